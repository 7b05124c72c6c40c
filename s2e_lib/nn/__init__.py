"""Small network building blocks with torchvision-compatible state-dict keys (no torchvision)."""
