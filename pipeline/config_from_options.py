"""The graph's configuration from the parsed options: built once, before the graph, by
`python -m pipeline` (and by the benchmarks that run its stages without a runner)."""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import options as opts
from pipeline.graph import GraphConfig
from pipeline.runners import Plan
from pipeline.topics import dlq_max_message_bytes, load_topics


def build_graph_config(options: PipelineOptions, plan: Plan) -> GraphConfig:
  from connectors.kafka import JAVA_ENV_EMBEDDED, JAVA_ENV_LOOPBACK, KafkaIOConfig
  from transforms.config import (DeadLetterConfig, EmbedConfig, EnrichConfig, PrivacyConfig,
                                 ProcessConfig, ValidationConfig)
  k = options.view_as(opts.KafkaOptions)
  out = options.view_as(opts.OutputOptions)
  t = options.view_as(opts.TransformOptions)
  topics = load_topics(k.topics_config)
  sources = [s.strip() for s in k.sources.split(',')] if k.sources else None
  kafka = KafkaIOConfig(
      bootstrap_servers=k.bootstrap_servers or topics.bootstrap_servers,
      group_id=k.consumer_group,
      expansion_jar=k.flink_kafka_expansion_jar if plan.is_flink else k.kafka_expansion_jar,
      java_env=JAVA_ENV_EMBEDDED if plan.is_flink else JAVA_ENV_LOOPBACK,
      legacy_payload=plan.is_flink,
      auto_offset_reset=k.start_offset,
      max_request_bytes=dlq_max_message_bytes(topics, out.dlq_topic))
  process = ProcessConfig(
      dead_letter=DeadLetterConfig(key_ref=t.dlq_key_ref,
                                   max_message_bytes=kafka.max_request_bytes),
      validation=ValidationConfig(),
      privacy=PrivacyConfig(hmac_key_ref=t.pseudonym_key_ref, hmac_key_id=t.pseudonym_key_id),
      enrich=EnrichConfig(weather_max_age_s=t.weather_max_age_seconds,
                          missing_weather=t.missing_weather, missing_product=t.missing_product,
                          weather_snapshot=t.weather_snapshot,
                          openweather_key_ref=t.openweather_key_ref,
                          product_catalog=t.product_catalog,
                          weather_refresh_s=None if plan.bounded else t.weather_refresh_seconds,
                          catalog_refresh_s=None if plan.bounded else t.catalog_refresh_seconds,
                          # Beam 2.62's portable Flink runner cannot checkpoint side inputs.
                          context_refresh='in_process' if plan.is_flink else 'side_input'),
      # A batch-duration bound needs processing-time timers, which the DirectRunner's portable
      # runner lacks (it would fall back to a runner that refuses cross-language transforms).
      embed=EmbedConfig(max_batch_size=t.embed_max_batch_size,
                        max_batch_duration_secs=None if plan.bounded else 1.0,
                        **opts.embed_settings(t))
      if t.embed else None)
  return GraphConfig(
      kafka=kafka,
      source_by_topic=topics.raw_source_by_topic(sources),
      process=process,
      posts_topic=out.posts_topic,
      orders_topic=out.orders_topic,
      dlq_topic=out.dlq_topic,
      max_records=k.max_records if plan.bounded else None,
      max_read_seconds=k.max_read_seconds if plan.bounded else None)
