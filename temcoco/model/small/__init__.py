"""The small TemCoCo network (``small``, the shipped CPU default): the paper's modules, each with
a finite temporal receptive field, laid out as :mod:`temcoco.model.paper` is."""
