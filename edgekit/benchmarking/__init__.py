"""Latency (harness, interleaving, profiles, ceilings), regression comparison, and NPU and microcontroller estimates;
none of it imports TensorFlow."""
