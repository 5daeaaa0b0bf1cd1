"""The model layer every adapter shares: the framework-neutral half of the model base classes.

* :mod:`.resolve`: the first half of ``from_pretrained`` (the keyword contract,
  config and weights from one commit);
* :mod:`.loading`: a checkpoint into a model's parameter tree, one tensor at a
  time, through the adapter's assign step, with one loading report;
* :mod:`.save`: a model's weights to a checkpoint folder (config, tensors,
  crash-safe save, Hub push) by one path;
* :mod:`.ties`: which weights copy others (tied) and which buffers models
  compute, registered per architecture;
* :mod:`.keywords`: what each transformers 4.x keyword does here.

The submodules are imported where used, so that importing a config class
does not import the loading machinery.
"""
