"""Kafka: topic catalogue, message schemas, codecs and workers."""
