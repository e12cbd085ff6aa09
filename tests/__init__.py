"""Tests of closeloop."""
