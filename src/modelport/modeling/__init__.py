"""The model layer every adapter shares: the framework-neutral half of the model base classes.

* :mod:`.ties`: which weights are copies of others (tied) or computed buffers,
  registered per architecture;
* :mod:`.loading`: a checkpoint into a model's parameter tree, one tensor at a
  time, through the adapter's assign step, with one loading report;
* :mod:`.saving`: a model's weights to a checkpoint folder (config, tensors,
  crash-safe save, Hub push) by one path.

The submodules are imported where used, so that importing a config class
does not import the loading machinery.
"""
