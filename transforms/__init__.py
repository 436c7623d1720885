"""The transforms of the MillionX pipeline: validate → privacy → enrich → embed.

Each stage is a PTransform returning a NamedTuple of (records, dead_letters); ProcessRecords
chains them all. Configuration: the frozen dataclasses in transforms.config.

The embedding stage is imported on first use: apache_beam.ml pulls in torch (seconds of start-up
that runs without embeddings, tests and Flink workers should not pay).
"""
import importlib
from transforms.config import (DeadLetterConfig, EmbedConfig, EnrichConfig, MissingPolicy,
                               PrivacyConfig, ProcessConfig, ValidationConfig)
from transforms.dead_letter import DEAD_LETTER_TAG, VALID_TAG, PayloadCipher
from transforms.context import (LiveWeather, ProductCatalogFile, ProductSideInput,
                                WeatherSideInput, WeatherSnapshotFile)
from transforms.enrich import EnrichRecords, EnrichResult
from transforms.privacy import PrivacyResult, PrivacyShield
from transforms.process import ProcessRecords, ProcessResult
from transforms.validate import ValidateRecords, ValidateResult, ValidRecord

__all__ = [
    'DEAD_LETTER_TAG', 'VALID_TAG', 'DeadLetterConfig', 'EmbedConfig', 'EmbedRecords',
    'EmbedResult', 'EnrichConfig', 'EnrichRecords', 'EnrichResult', 'LiveWeather', 'MissingPolicy',
    'PayloadCipher', 'PrivacyConfig', 'PrivacyResult', 'PrivacyShield',
    'ProcessConfig', 'ProcessRecords', 'ProcessResult', 'ProductCatalogFile', 'ProductSideInput',
    'SentenceTransformerModelHandler', 'ValidRecord', 'ValidateRecords', 'ValidateResult',
    'ValidationConfig', 'WeatherSideInput', 'WeatherSnapshotFile',
]

_LAZY = {'EmbedRecords': 'transforms.embed', 'EmbedResult': 'transforms.embed',
         'SentenceTransformerModelHandler': 'transforms.embed'}


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
