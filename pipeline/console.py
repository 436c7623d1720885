"""What `python -m pipeline` shows on the console: worth reading, not known-harmless noise.

- The Java workers' log entries (the Kafka read runs in a Java SDK harness) reach Python through
  Beam's Fn API logging service, which logs each one as the whole LogEntry protobuf: a multi-line
  block per message (apache_beam/runners/portability/fn_api_runner/worker_handlers.py,
  BasicLoggingService). They are rewritten as one line, `java <logger>: <first line>`.
- One of them is dropped: grpc-java's "Previous channel ManagedChannelImpl{...} was garbage
  collected without being shut down!" (io.grpc.internal.ManagedChannelOrphanWrapper, SEVERE),
  which Beam's Java harness triggers when it exits without closing a channel of its own: it
  costs nothing and no setting of ours can close that channel.
- kafka-python's coordinator warnings that it retries itself (NotCoordinator and
  CoordinatorNotAvailable while a fresh broker loads __consumer_offsets or a group's coordinator
  moves): dropped below DEBUG. Other coordinator warnings stay.
"""
from __future__ import annotations

import logging

_ORPHAN_LOGGER = 'io.grpc.internal.ManagedChannelOrphanWrapper'
_RETRIED_COORDINATOR_ERRORS = ('NotCoordinatorError', 'CoordinatorNotAvailableError')
_MAX_MESSAGE = 2000


class JavaLogEntries(logging.Filter):
  """On the root logger: Beam's LogEntry dumps → one line; the orphaned-channel one dropped."""

  def filter(self, record: logging.LogRecord) -> bool:
    text = record.msg if isinstance(record.msg, str) and not record.args else None
    if text is None or not text.startswith('severity: '):
      return True
    from apache_beam.portability.api import beam_fn_api_pb2  # pylint: disable=import-outside-toplevel
    from google.protobuf import text_format  # pylint: disable=import-outside-toplevel
    entry = beam_fn_api_pb2.LogEntry()
    try:
      text_format.Parse(text, entry)
    except text_format.ParseError:
      return True
    # Beam vendors grpc: org.apache.beam.vendor.grpc.v1p69p0.io.grpc.internal....
    if entry.log_location.endswith(_ORPHAN_LOGGER) and 'garbage collected' in entry.message:
      return False
    first = entry.message.strip().split('\n', 1)[0][:_MAX_MESSAGE]
    record.msg = 'java %s: %s'
    record.args = (entry.log_location or 'worker', first)
    return True


class RetriedCoordinatorWarnings(logging.Filter):
  """On the console handler: kafka-python's coordinator warnings that it retries itself."""

  def filter(self, record: logging.LogRecord) -> bool:
    if not record.name.startswith('kafka.coordinator') or record.levelno > logging.WARNING:
      return True
    message = record.getMessage()
    return not any(error in message for error in _RETRIED_COORDINATOR_ERRORS)


def install() -> None:
  """Adds both filters (idempotent): JavaLogEntries on the root logger, where Beam logs the
  entries, RetriedCoordinatorWarnings on the root logger's handlers."""
  root = logging.getLogger()
  if not any(isinstance(f, JavaLogEntries) for f in root.filters):
    root.addFilter(JavaLogEntries())
  for handler in root.handlers:
    if not any(isinstance(f, RetriedCoordinatorWarnings) for f in handler.filters):
      handler.addFilter(RetriedCoordinatorWarnings())
