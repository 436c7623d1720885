"""Fixtures shared by the unit tests' modules."""
import pytest


@pytest.fixture(scope='module')
def onnx_dir(tmp_path_factory):
  """The setup's ONNX export when current, else a fresh one in a temporary directory (~15 s)."""
  from transforms.config import default_model_dir
  from transforms.embed_model import default_onnx_dir, export, export_problem
  if export_problem(default_model_dir(), default_onnx_dir()) is None:
    return default_onnx_dir()
  path = str(tmp_path_factory.mktemp('onnx') / 'export')
  export(default_model_dir(), path)
  return path
