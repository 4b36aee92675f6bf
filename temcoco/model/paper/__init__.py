"""The published TemCoCo network (``paper``): architecture, weight conversion and windowed inference."""
