"""The torch side: the seed's ``Model`` generalised, autograd, and stacked autograd for sweeps.

The only layer that imports torch (besides the .pt loader in ``io``); imported lazily so that
``gradcheck --help`` stays fast."""
