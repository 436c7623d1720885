"""Progress lines: records done of the backlog, the rate from the first record on, the time left."""
import logging

from pipeline import progress


def test_line_before_the_first_record_says_what_it_waits_for():
  assert progress.progress_line(0, 20000, None, 12.0) == (
      'progress: waiting for the first records (12 s: starting the runner and the Kafka read)')


def test_line_with_backlog_rate_and_eta():
  assert progress.progress_line(4200, 20000, 35.2, 60) == (
      'progress: 4,200 of 20,000 records (21.0%), 35.2 records/s, about 7 min 29 s left')
  assert progress.progress_line(20000, 20000, 50.0, 60) == (
      'progress: 20,000 of 20,000 records (100.0%), 50.0 records/s')
  assert progress.progress_line(10, None, 2.0, 5) == 'progress: 10 records, 2.0 records/s'


def test_reporter_measures_the_rate_from_the_first_record():
  now = [0.0]
  done = [0]
  reporter = progress.ProgressReporter(lambda: done[0], 1000, clock=lambda: now[0])
  now[0] = 10.0
  assert 'waiting for the first records (10 s' in reporter.line()
  now[0], done[0] = 12.0, 100          # first records: the start-up is not throughput
  assert reporter.line() == 'progress: 100 of 1,000 records (10.0%)'
  now[0], done[0] = 22.0, 600
  assert reporter.line() == 'progress: 600 of 1,000 records (60.0%), 50.0 records/s, about 8 s left'


def test_reporter_logs_a_last_line_when_it_stops(caplog):
  done = [0]
  reporter = progress.ProgressReporter(lambda: done[0], 50, interval_s=60)
  with caplog.at_level(logging.INFO, logger='pipeline.progress'):
    with reporter:
      done[0] = 50
  assert [r.getMessage() for r in caplog.records] == ['progress: 50 of 50 records (100.0%)']


def test_reporter_never_breaks_a_run(caplog):
  def broken():
    raise OSError('REST down')
  reporter = progress.ProgressReporter(broken, 10, interval_s=0.01)
  assert reporter.line() is None
  with caplog.at_level(logging.INFO, logger='pipeline.progress'):
    with reporter:
      pass


def test_tally_and_in_process_reporter():
  progress.RECORDS_READ.reset()
  progress.RECORDS_READ.add(3)
  assert progress.RECORDS_READ.value == 3
  with progress.reporter_for_run(0, 10):     # 0: off
    pass
  reporter = progress.reporter_for_run(5, 10)
  assert progress.RECORDS_READ.value == 0     # a run starts from zero
  progress.RECORDS_READ.add(4)
  assert reporter.line().startswith('progress: 4 of 10 records')


def test_flink_records_read_sums_the_jobs_subtasks_from_the_reporter():
  import http.server
  import threading
  text = (
      '# TYPE flink_taskmanager_job_task_operator_millionx_num_records_read gauge\n'
      'flink_taskmanager_job_task_operator_millionx_num_records_read{job_id="abc",operator_name="_34_x__y",subtask_index="0",} 70.0\n'
      'flink_taskmanager_job_task_operator_millionx_num_records_read{job_id="abc",operator_name="_34_x__y",subtask_index="1",} 50.0\n'
      'flink_taskmanager_job_task_operator_millionx_num_records_read{job_id="other",operator_name="_34_x__y",subtask_index="0",} 9.0\n')

  class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
      body = text.encode()
      self.send_response(200)
      self.send_header('Content-Length', str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def log_message(self, *args):
      pass

  server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    url = f'http://127.0.0.1:{server.server_port}/metrics'
    assert progress.flink_records_read([url], 'abc') == 120
    assert progress.flink_records_read([url], 'missing') is None
  finally:
    server.shutdown()
    server.server_close()
