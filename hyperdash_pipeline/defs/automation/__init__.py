"""The automation condition sensor that rebuilds the analytics when their inputs change."""
