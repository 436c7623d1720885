"""Inspect and replay dead letters: `python -m transforms.dlq_tool list|show|replay`.

Reads dead letters from a DLQ topic (default dlq.pipeline) or from a JSON-lines file. `show`
decrypts the payload for whoever holds the DLQ key (secret reference, e.g. env:MILLIONX_DLQ_KEY);
`replay` republishes chosen dead letters' original messages to their source topic, byte for byte,
with a `replayed_from` header. Dead letters from later stages hold the pseudonymized record, not
the original message: replay re-reads the original from the source topic at its offset (possible
while the raw topic still retains it, 7 days by default).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Iterable, Iterator, Optional, Sequence

from connectors.secrets import SecretError
from schemas.normalized import DeadLetter
from transforms.dead_letter import (FORMAT_KAFKA_MESSAGE, PayloadCipher, PayloadDecryptError,
                                    decode_kafka_message_envelope, dead_letter_from_json)

DEFAULT_TOPIC = 'dlq.pipeline'


def read_file(path: str) -> Iterator[DeadLetter]:
  with open(path, 'rb') as f:
    for line in f:
      if line.strip():
        yield dead_letter_from_json(line)


def read_topic(bootstrap_servers: str, topic: str, timeout_ms: int = 5000) -> Iterator[DeadLetter]:
  """Every dead letter in the topic, from the beginning to the current end."""
  import kafka
  consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                 consumer_timeout_ms=timeout_ms, group_id=None)
  try:
    partitions = [kafka.TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    if not partitions:
      return
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end = consumer.end_offsets(partitions)
    remaining = {tp for tp in partitions if end[tp] > 0}
    for message in consumer:
      tp = kafka.TopicPartition(message.topic, message.partition)
      yield dead_letter_from_json(message.value)
      if message.offset + 1 >= end[tp]:
        remaining.discard(tp)
      if not remaining:
        break
  finally:
    consumer.close()


def fetch_original(bootstrap_servers: str, dead: DeadLetter, timeout_ms: int = 5000):
  """(key, value, headers) of the original message at the dead letter's coordinates, or None."""
  import kafka
  consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                 consumer_timeout_ms=timeout_ms, group_id=None)
  try:
    tp = kafka.TopicPartition(dead.topic, dead.partition)
    consumer.assign([tp])
    consumer.seek(tp, dead.offset)
    for message in consumer:
      if message.offset == dead.offset:
        return message.key, message.value, list(message.headers or [])
      return None  # the offset is gone (retention): Kafka moved us to a later one
    return None
  finally:
    consumer.close()


def _ciphers(key_refs: Sequence[str]) -> dict[str, PayloadCipher]:
  ciphers = {}
  for ref in key_refs:
    ref, _, key_id = ref.partition('#')   # env:NAME#key-id when the key id was configured
    cipher = PayloadCipher.from_ref(ref, key_id or None)
    ciphers[cipher.key_id] = cipher
  return ciphers


def decrypt(dead: DeadLetter, ciphers: dict[str, PayloadCipher]) -> bytes:
  cipher = ciphers.get(dead.payload_key_id)
  if cipher is None:
    raise PayloadDecryptError(f'no key given for key id {dead.payload_key_id!r} '
                              f'(have: {", ".join(ciphers) or "none"})')
  return cipher.open(dead.payload_ciphertext, dead.dead_letter_id)


def summary_line(dead: DeadLetter) -> str:
  message = dead.error_message.replace('\n', ' ')
  return (f'{dead.dead_letter_id}  {dead.failed_at.isoformat()}  {dead.stage:<8}  '
          f'{dead.error_class:<22}  {dead.topic}:{dead.partition}:{dead.offset}  {message[:120]}')


def show(dead: DeadLetter, ciphers: dict[str, PayloadCipher]) -> dict:
  """Metadata plus the decrypted payload (message value as text when it is UTF-8)."""
  plaintext = decrypt(dead, ciphers)
  out = {'dead_letter_id': dead.dead_letter_id, 'stage': dead.stage,
         'error_class': dead.error_class, 'error_message': dead.error_message,
         'source': dead.source, 'coordinates': f'{dead.topic}:{dead.partition}:{dead.offset}',
         'failed_at': dead.failed_at.isoformat(), 'payload_format': dead.payload_format,
         'payload_key_id': dead.payload_key_id, 'event_id': dead.event_id}
  if dead.payload_format == FORMAT_KAFKA_MESSAGE:
    message = decode_kafka_message_envelope(plaintext)
    text = lambda b: None if b is None else b.decode('utf-8', errors='backslashreplace')
    out['message'] = {'key': text(message['key']), 'value': text(message['value']),
                      'headers': {k: text(v) for k, v in message['headers']}}
  else:
    out['record'] = json.loads(plaintext)
  return out


def replay_plan(dead_letters: Iterable[DeadLetter], ids: Sequence[str],
                ciphers: dict[str, PayloadCipher], fetch=None):
  """[(topic, key, value, headers)] to publish for the chosen ids; raises on a missing id."""
  wanted = set(ids)
  plan = []
  for dead in dead_letters:
    if dead.dead_letter_id not in wanted:
      continue
    wanted.discard(dead.dead_letter_id)
    if dead.payload_format == FORMAT_KAFKA_MESSAGE:
      message = decode_kafka_message_envelope(decrypt(dead, ciphers))
      key, value, headers = message['key'], message['value'], list(message['headers'])
    else:
      original = fetch(dead) if fetch else None
      if original is None:
        raise LookupError(f'{dead.dead_letter_id}: the original message at {dead.topic}:'
                          f'{dead.partition}:{dead.offset} is no longer in the topic')
      key, value, headers = original
    headers = [(k, v) for k, v in headers if k != 'replayed_from']
    headers.append(('replayed_from', dead.dead_letter_id.encode()))
    plan.append((dead.topic, key, value, headers))
  if wanted:
    raise LookupError(f'dead letter(s) not found: {", ".join(sorted(wanted))}')
  return plan


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m transforms.dlq_tool', description=__doc__.split('\n')[0])
  parser.add_argument('--bootstrap-servers', default='127.0.0.1:9092', help='Kafka brokers')
  parser.add_argument('--topic', default=DEFAULT_TOPIC, help='the DLQ topic to read')
  parser.add_argument('--file', help='read dead letters from this JSON-lines file instead of Kafka')
  parser.add_argument('--key', action='append', default=[],
                      help='DLQ key secret reference (env:NAME or file:PATH), optionally '
                           'suffixed #KEY_ID; repeat for rotated keys')
  sub = parser.add_subparsers(dest='command', required=True)
  lst = sub.add_parser('list', help='one line per dead letter (no payload)')
  lst.add_argument('--stage', help='only this stage')
  lst.add_argument('--limit', type=int, default=1000, help='at most this many lines')
  shw = sub.add_parser('show', help='a dead letter with its payload decrypted (needs --key)')
  shw.add_argument('ids', nargs='+', help='dead_letter_id values')
  rep = sub.add_parser('replay', help='republish originals to their source topic (needs --key)')
  rep.add_argument('ids', nargs='+', help='dead_letter_id values')
  rep.add_argument('--dry-run', action='store_true', help='print what would be published')
  return parser


def main(argv: Optional[Sequence[str]] = None, out=sys.stdout) -> int:
  args = _parser().parse_args(argv)
  source = (read_file(args.file) if args.file
            else read_topic(args.bootstrap_servers, args.topic))
  try:
    if args.command == 'list':
      n = 0
      for dead in source:
        if args.stage and dead.stage != args.stage:
          continue
        print(summary_line(dead), file=out)
        n += 1
        if n >= args.limit:
          break
      return 0
    ciphers = _ciphers(args.key)
    if args.command == 'show':
      wanted = set(args.ids)
      for dead in source:
        if dead.dead_letter_id in wanted:
          print(json.dumps(show(dead, ciphers), ensure_ascii=False, indent=1), file=out)
          wanted.discard(dead.dead_letter_id)
      if wanted:
        print(f'not found: {", ".join(sorted(wanted))}', file=sys.stderr)
        return 1
      return 0
    fetch = None if args.file else (lambda d: fetch_original(args.bootstrap_servers, d))
    plan = replay_plan(source, args.ids, ciphers, fetch)
    if args.dry_run:
      for topic, key, value, headers in plan:
        print(f'would publish to {topic}: key={key!r} value={len(value or b"")} bytes '
              f'headers={[k for k, _ in headers]}', file=out)
      return 0
    from connectors.kafka_publisher import KafkaPublisher, PublisherConfig
    with KafkaPublisher(PublisherConfig(bootstrap_servers=args.bootstrap_servers,
                                        client_id='millionx-dlq-replay')) as publisher:
      publisher.publish_many(plan)
    print(f'replayed {len(plan)} message(s)', file=out)
    return 0
  except (SecretError, PayloadDecryptError, LookupError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())
