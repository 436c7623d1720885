"""The Weaviate collections the sink writes, and the command that creates them.

    python -m connectors.weaviate --local      # the local stack (also: python -m connectors.weaviate_schema)

Explicit properties (field-tokenized ids and enums, word-tokenized free text), no vectorizer
(the pipeline brings its vectors, one named vector VECTOR_NAME), HNSW with cosine distance.
Creating is idempotent: an existing collection is left as it is.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

POSTS_COLLECTION = 'SocialPost'
ORDERS_COLLECTION = 'MarketOrder'
VECTOR_NAME = 'default'

# (name, data type, field-tokenized?) per property, in the order the objects carry them.
# Data types are weaviate.classes.config.DataType member names.
POST_PROPERTIES: tuple[tuple[str, str, bool], ...] = (
    ('event_id', 'TEXT', True),
    ('source', 'TEXT', True),
    ('kind', 'TEXT', True),
    ('native_id', 'TEXT', True),
    ('event_time', 'DATE', False),
    ('text', 'TEXT', False),
    ('hashtags', 'TEXT_ARRAY', True),
    ('city', 'TEXT', True),
    ('region_code', 'TEXT', True),
    ('like_count', 'INT', False),
    ('comment_count', 'INT', False),
    ('share_count', 'INT', False),
    ('view_count', 'INT', False),
    ('weather_condition', 'TEXT', True),
    ('embedding_model', 'TEXT', True),
    ('kafka_topic', 'TEXT', True),
    ('kafka_partition', 'INT', False),
    ('kafka_offset', 'INT', False),
)
ORDER_PROPERTIES: tuple[tuple[str, str, bool], ...] = (
    ('event_id', 'TEXT', True),
    ('source', 'TEXT', True),
    ('native_id', 'TEXT', True),
    ('order_number', 'TEXT', True),
    ('event_time', 'DATE', False),
    ('status', 'TEXT', True),
    ('currency', 'TEXT', True),
    ('total_price', 'NUMBER', False),
    ('item_count', 'INT', False),
    ('product_titles', 'TEXT_ARRAY', False),
    ('skus', 'TEXT_ARRAY', True),
    ('categories', 'TEXT_ARRAY', True),
    ('city', 'TEXT', True),
    ('country', 'TEXT', True),
    ('note', 'TEXT', False),
    ('weather_condition', 'TEXT', True),
    ('embedding_model', 'TEXT', True),
    ('kafka_topic', 'TEXT', True),
    ('kafka_partition', 'INT', False),
    ('kafka_offset', 'INT', False),
)


def _properties(spec: tuple[tuple[str, str, bool], ...]) -> list:
  from weaviate.classes.config import DataType, Property, Tokenization
  return [Property(name=name, data_type=DataType[data_type],
                   **({'tokenization': Tokenization.FIELD} if field else {}))
          for name, data_type, field in spec]


def ensure_collections(client, config, log=lambda _: None) -> list[str]:
  """Creates `config.posts_collection` and `config.orders_collection` if missing. Returns the
  names it created. `config` is a WeaviateConfig (only the two names are read)."""
  from weaviate.classes.config import Configure, VectorDistances

  created = []
  for name, spec in ((config.posts_collection, POST_PROPERTIES),
                     (config.orders_collection, ORDER_PROPERTIES)):
    if client.collections.exists(name):
      log(f'exists  {name}')
      continue
    client.collections.create(
        name, properties=_properties(spec),
        vector_config=Configure.Vectors.self_provided(
            name=VECTOR_NAME,
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)))
    created.append(name)
    log(f'created {name}')
  return created


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Creates the collections on the server the flags name."""
  from connectors.weaviate import WeaviateConfig, open_client  # the sink's config and client

  parser = argparse.ArgumentParser(prog='python -m connectors.weaviate',
                                   description='Create the Weaviate collections (idempotent).')
  parser.add_argument('--local', action='store_true',
                      help='The local stack (MILLIONX_WEAVIATE_HTTP_PORT / _GRPC_PORT, 8080 / 50051).')
  parser.add_argument('--http-host', default='127.0.0.1', help='REST host.')
  parser.add_argument('--http-port', type=int, help='REST port (default 8080).')
  parser.add_argument('--http-secure', action='store_true', help='Use https for REST.')
  parser.add_argument('--grpc-host', default='127.0.0.1', help='gRPC host.')
  parser.add_argument('--grpc-port', type=int, help='gRPC port (default 50051).')
  parser.add_argument('--grpc-secure', action='store_true', help='Use TLS for gRPC.')
  parser.add_argument('--api-key-ref', help='Secret reference to the API key (env:NAME or file:PATH).')
  parser.add_argument('--posts-collection', default=POSTS_COLLECTION, help='Posts collection name.')
  parser.add_argument('--orders-collection', default=ORDERS_COLLECTION, help='Orders collection name.')
  args = parser.parse_args(argv)
  http_port = args.http_port or int(os.environ.get('MILLIONX_WEAVIATE_HTTP_PORT', '8080'))
  grpc_port = args.grpc_port or int(os.environ.get('MILLIONX_WEAVIATE_GRPC_PORT', '50051'))
  config = WeaviateConfig(
      http_host=args.http_host, http_port=http_port, http_secure=args.http_secure,
      grpc_host=args.grpc_host, grpc_port=grpc_port, grpc_secure=args.grpc_secure,
      api_key_ref=args.api_key_ref, posts_collection=args.posts_collection,
      orders_collection=args.orders_collection)
  with open_client(config) as client:
    ensure_collections(client, config, log=print)
  return 0


if __name__ == '__main__':
  sys.exit(main())
