"""Hyperledger Besu: releases we target, and the files a Besu node reads (config.toml, permissions, static nodes)."""
