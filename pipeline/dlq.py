"""Inspect and replay dead letters: `python -m pipeline.dlq list|show|replay`.

Reads dead letters from a DLQ topic (default dlq.pipeline) or from a JSON-lines file. `show`
decrypts the payload for whoever holds the DLQ key (secret reference, e.g. env:MILLIONX_DLQ_KEY);
`replay` republishes chosen dead letters' original messages, byte for byte, with a
`replayed_from` header, to the source topic sealed inside the payload (never to the dead letter's
clear-text `topic` field, which the AES-GCM associated data binds but which is not where the
tool takes the destination from). Dead letters that hold the pseudonymized record (later stages)
or only a reference (payloads too large for the DLQ) are replayed by re-reading the original from
the source topic at its sealed coordinates, while the topic still retains it (7 days by
default); a reference's keyed digest must match what is read there.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

from connectors import kafka_client
from connectors.secrets import SecretError
from schemas.normalized import DeadLetter
from transforms.dead_letter import (FORMAT_KAFKA_MESSAGE, FORMAT_KAFKA_REFERENCE,
                                    FORMAT_NORMALIZED_JSON, PayloadCipher, PayloadDecryptError,
                                    dead_letter_from_json, decode_kafka_message_envelope,
                                    message_content)

DEFAULT_TOPIC = 'dlq.pipeline'
# (key, value, headers) of the message now at (topic, partition, offset), or None.
Fetch = Callable[[str, int, int], Optional[tuple]]


# The agents' dead letters (dlq.ingest, connectors/kafka_publisher.DeadLetterCodec) are another
# format: JSON with the reason in clear and the payload Fernet-encrypted under a key derived
# from the DLQ key (without a key, only its size). They have no id: `list` names each by where it is
# (topic:partition:offset), `show` takes that; replay is for the pipeline's.
INGEST_FORMAT = ('an agent ingest dead letter (dlq.ingest): JSON with the reason, source and '
                 'intended topic in clear and the payload encrypted under the DLQ key (the '
                 'agents\' --dlq-key-ref), not a pipeline dead letter')


@dataclasses.dataclass(frozen=True)
class IngestDeadLetter:
  """A dead letter of the agents, where it was read (topic:partition:offset or file:line)."""
  where: str
  letter: dict


def parse(value: bytes, where: str) -> Union[DeadLetter, IngestDeadLetter]:
  """A dead letter of the pipeline or of the agents; LookupError for anything else (never a
  KeyError naming a missing field)."""
  try:
    data = json.loads(value)
    if isinstance(data, dict) and data.get('stage') == 'ingest' and 'intended_topic' in data:
      return IngestDeadLetter(where, data)
    return dead_letter_from_json(value)
  except (ValueError, KeyError, TypeError) as e:
    raise LookupError(f'{where} is not a dead letter of the pipeline or the agents '
                      f'({type(e).__name__})') from e


def read_file(path: str) -> Iterator[Union[DeadLetter, IngestDeadLetter]]:
  with open(path, 'rb') as f:
    for n, line in enumerate(f, 1):
      if line.strip():
        yield parse(line, f'{path}:{n}')


def read_topic(bootstrap_servers: str, topic: str) -> Iterator[Union[DeadLetter, IngestDeadLetter]]:
  for message in kafka_client.read_topic(bootstrap_servers, topic):
    yield parse(message.value, f'{message.topic}:{message.partition}:{message.offset}')


def pipeline_dead_letters(source: Iterable) -> Iterator[DeadLetter]:
  """The pipeline's dead letters of `source`; an agent's is an error that says what it is."""
  for dead in source:
    if isinstance(dead, IngestDeadLetter):
      raise LookupError(f'{dead.where} is {INGEST_FORMAT}: `python -m pipeline.dlq --topic '
                        'dlq.ingest list` lists them, `show TOPIC:PARTITION:OFFSET --key ...` '
                        'decrypts one; replay is for the pipeline\'s (dlq.pipeline)')
    yield dead


def show_ingest(dead: IngestDeadLetter, key_refs: Sequence[str]) -> dict:
  """An agent's dead letter with its payload decrypted by the first of the keys that opens it."""
  from cryptography.fernet import InvalidToken  # pylint: disable=import-outside-toplevel

  from connectors.kafka_publisher import DeadLetterCodec  # pylint: disable=import-outside-toplevel
  from connectors.secrets import SecretRef  # pylint: disable=import-outside-toplevel
  out = {'where': dead.where, **{k: v for k, v in dead.letter.items() if k != 'payload_fernet'}}
  if not dead.letter.get('payload_fernet'):
    out['payload'] = None   # the agent had no key: only the payload's hash and size were kept
    return out
  if not key_refs:
    raise SecretError(f'{dead.where}: decrypting an ingest dead letter needs --key (the DLQ key)')
  for ref in key_refs:
    try:
      out['payload'] = _text(DeadLetterCodec(SecretRef.parse(ref.partition('#')[0])).open(dead.letter))
      return out
    except InvalidToken:
      continue
  raise PayloadDecryptError(f'{dead.where}: none of the keys given opens this ingest dead letter')


def kafka_fetch(bootstrap_servers: str) -> Fetch:
  def fetch(topic: str, partition: int, offset: int):
    message = kafka_client.fetch_message(bootstrap_servers, topic, partition, offset)
    if message is None:
      return None
    return message.key, message.value, list(message.headers or [])
  return fetch


def ciphers(key_refs: Sequence[str]) -> dict[str, PayloadCipher]:
  out = {}
  for ref in key_refs:
    ref, _, key_id = ref.partition('#')   # env:NAME#key-id when the key id was configured
    cipher = PayloadCipher.from_ref(ref, key_id or None)
    out[cipher.key_id] = cipher
  return out


def _cipher(dead: DeadLetter, keys: dict[str, PayloadCipher]) -> PayloadCipher:
  cipher = keys.get(dead.payload_key_id)
  if cipher is None:
    raise PayloadDecryptError(f'no key given for key id {dead.payload_key_id!r} '
                              f'(have: {", ".join(keys) or "none"})')
  return cipher


def decrypt(dead: DeadLetter, keys: dict[str, PayloadCipher]) -> bytes:
  return _cipher(dead, keys).open_dead_letter(dead)


def summary_line(dead: Union[DeadLetter, IngestDeadLetter]) -> str:
  if isinstance(dead, IngestDeadLetter):
    letter = dead.letter
    reason = str(letter.get('reason', '')).replace('\n', ' ')
    payload = 'encrypted' if letter.get('payload_fernet') else 'size only'
    return (f'{dead.where}  {letter.get("time")}  ingest    {str(letter.get("error_class")):<22}  '
            f'{letter.get("source")} -> {letter.get("intended_topic")}  payload '
            f'{letter.get("payload_size")} bytes, {payload}  {reason[:120]}')
  message = dead.error_message.replace('\n', ' ')
  return (f'{dead.dead_letter_id}  {dead.failed_at.isoformat()}  {dead.stage:<8}  '
          f'{dead.error_class:<22}  {dead.topic}:{dead.partition}:{dead.offset}  {message[:120]}')


def _text(b: Optional[bytes]) -> Optional[str]:
  return None if b is None else b.decode('utf-8', errors='backslashreplace')


def show(dead: DeadLetter, keys: dict[str, PayloadCipher]) -> dict:
  """Metadata plus the decrypted payload (message value as text when it is UTF-8)."""
  plaintext = decrypt(dead, keys)
  out = {'dead_letter_id': dead.dead_letter_id, 'stage': dead.stage,
         'error_class': dead.error_class, 'error_message': dead.error_message,
         'source': dead.source, 'coordinates': f'{dead.topic}:{dead.partition}:{dead.offset}',
         'failed_at': dead.failed_at.isoformat(), 'payload_format': dead.payload_format,
         'payload_key_id': dead.payload_key_id, 'event_id': dead.event_id}
  if dead.payload_format == FORMAT_KAFKA_MESSAGE:
    message = decode_kafka_message_envelope(plaintext)
    out['message'] = {'topic': message['topic'], 'key': _text(message['key']),
                      'value': _text(message['value']),
                      'headers': {k: _text(v) for k, v in message['headers']}}
  elif dead.payload_format == FORMAT_KAFKA_REFERENCE:
    out['reference'] = json.loads(plaintext)
  else:
    out['record'] = json.loads(plaintext)
  return out


def _sealed_source(dead: DeadLetter, plaintext: bytes):
  """(topic, partition, offset) sealed in the payload: where the original message is."""
  if dead.payload_format == FORMAT_KAFKA_MESSAGE:
    m = decode_kafka_message_envelope(plaintext)
  elif dead.payload_format == FORMAT_KAFKA_REFERENCE:
    m = json.loads(plaintext)
  elif dead.payload_format == FORMAT_NORMALIZED_JSON:
    m = json.loads(plaintext)['lineage']
  else:
    raise LookupError(f'{dead.dead_letter_id}: unknown payload format {dead.payload_format!r}')
  return m['topic'], m['partition'], m['offset']


def replay_plan(dead_letters: Iterable[DeadLetter], ids: Sequence[str],
                keys: dict[str, PayloadCipher], fetch: Optional[Fetch] = None):
  """[(topic, key, value, headers)] to publish for the chosen ids; raises on a missing id, on
  an original no longer in its topic, and on one whose digest differs from the sealed one."""
  wanted = set(ids)
  plan = []
  for dead in pipeline_dead_letters(dead_letters):
    if dead.dead_letter_id not in wanted:
      continue
    wanted.discard(dead.dead_letter_id)
    cipher = _cipher(dead, keys)
    plaintext = cipher.open_dead_letter(dead)
    topic, partition, offset = _sealed_source(dead, plaintext)
    where = f'{topic}:{partition}:{offset}'
    if dead.payload_format == FORMAT_KAFKA_MESSAGE:
      message = decode_kafka_message_envelope(plaintext)
      key, value, headers = message['key'], message['value'], list(message['headers'])
    else:
      original = fetch(topic, partition, offset) if fetch else None
      if original is None:
        raise LookupError(f'{dead.dead_letter_id}: the original message at {where} is no longer '
                          'in the topic (or no Kafka to read it from)')
      key, value, headers = original
      reference = json.loads(plaintext) if dead.payload_format == FORMAT_KAFKA_REFERENCE else {}
      if reference.get('kept') == FORMAT_KAFKA_MESSAGE and cipher.digest(
          message_content(key, value, list(headers))) != reference.get('digest'):
        raise LookupError(f'{dead.dead_letter_id}: the message now at {where} is not the one '
                          'that failed (its keyed digest differs)')
    headers = [(k, v) for k, v in headers if k != 'replayed_from']
    headers.append(('replayed_from', dead.dead_letter_id.encode()))
    plan.append((topic, key, value, headers))
  if wanted:
    raise LookupError(f'dead letter(s) not found: {", ".join(sorted(wanted))}')
  return plan


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m pipeline.dlq',
                                   description=__doc__.split('\n', 1)[0])
  parser.add_argument('--bootstrap-servers', default='127.0.0.1:9092', help='Kafka brokers')
  parser.add_argument('--topic', default=DEFAULT_TOPIC, help='the DLQ topic to read')
  parser.add_argument('--file', help='read dead letters from this JSON-lines file instead of Kafka')
  key_help = ('DLQ key secret reference (env:NAME or file:PATH), optionally suffixed #KEY_ID; '
              'repeat for rotated keys')
  parser.add_argument('--key', action='append', default=[], help=key_help)
  sub = parser.add_subparsers(dest='command', required=True)
  lst = sub.add_parser('list', help='one line per dead letter (no payload); agent ingest dead '
                       'letters (--topic dlq.ingest) too')
  lst.add_argument('--stage', help='only this stage')
  lst.add_argument('--limit', type=int, default=1000, help='at most this many lines')
  shw = sub.add_parser('show', help='a dead letter with its payload decrypted (needs --key)')
  shw.add_argument('ids', nargs='+', help='dead_letter_id values (an agent\'s ingest dead letter: '
                   'TOPIC:PARTITION:OFFSET as `list` prints it)')
  rep = sub.add_parser('replay', help='republish originals to their sealed source topic (needs --key)')
  rep.add_argument('ids', nargs='+', help='dead_letter_id values')
  # --key after the command as well (`show ID --key env:MILLIONX_DLQ_KEY`): its own dest, since
  # a subcommand's default would overwrite a --key given before the command.
  for command in (shw, rep):
    command.add_argument('--key', dest='command_key', action='append', default=[], help=key_help)
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
        stage = 'ingest' if isinstance(dead, IngestDeadLetter) else dead.stage
        if args.stage and stage != args.stage:
          continue
        print(summary_line(dead), file=out)
        n += 1
        if n >= args.limit:
          break
      return 0
    key_refs = args.key + args.command_key
    keys = ciphers(key_refs)
    if args.command == 'show':
      wanted = set(args.ids)
      for dead in source:
        ingest = isinstance(dead, IngestDeadLetter)
        ident = dead.where if ingest else dead.dead_letter_id
        if ident in wanted:
          shown = show_ingest(dead, key_refs) if ingest else show(dead, keys)
          print(json.dumps(shown, ensure_ascii=False, indent=1), file=out)
          wanted.discard(ident)
      if wanted:
        print(f'not found: {", ".join(sorted(wanted))}', file=sys.stderr)
        return 1
      return 0
    fetch = None if args.file else kafka_fetch(args.bootstrap_servers)
    plan = replay_plan(pipeline_dead_letters(source), args.ids, keys, fetch)
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
  except (SecretError, PayloadDecryptError, LookupError, kafka_client.KafkaUnavailable) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())
