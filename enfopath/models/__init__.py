"""The networks and how they are loaded: MLPs and the torchcfm UNet (:mod:`.networks`), SiT
(:mod:`.sit`), the Stable Diffusion VAE (:mod:`.latent`), CLIP (:mod:`.clip`), Inception-v3
(:mod:`.inception`), checkpoints
(:mod:`.checkpoint`), Hugging Face hub files (:mod:`.hub`), training (:mod:`.training`), a flow
ready to sample (:mod:`.flows`) and the user's own model (:mod:`.plugin`).

Imports only the light core (:mod:`enfopath`) and :mod:`enfopath.io`; nothing is imported here,
so ``import enfopath.models.plugin`` does not pull in timm, diffusers or open_clip.
"""
