"""Word lists the dataset draws from: base models, models, samplers, prompt words, tags.

Names follow what Civitai shows, so generated images read like real ones.
"""

from __future__ import annotations

# (base model, share of images, typical sizes before any upscale, clip skip)
BASE_MODELS: list[tuple[str, float, list[tuple[int, int]], int]] = [
    ("Pony", 0.26, [(832, 1216), (1216, 832), (1024, 1024)], 2),
    ("Illustrious", 0.24, [(832, 1216), (896, 1152), (1024, 1024)], 2),
    ("SDXL 1.0", 0.20, [(832, 1216), (1216, 832), (1024, 1024), (896, 1152)], 1),
    ("SD 1.5", 0.18, [(512, 768), (768, 512), (512, 512)], 2),
    ("Flux.1 D", 0.12, [(896, 1152), (1024, 1024), (832, 1216)], 1),
]
VIDEO_BASE_MODEL = "Wan Video 14B t2v"
# Short clips are encoded once per size, so videos use a few sizes only.
VIDEO_SIZES: list[tuple[int, int]] = [(480, 832), (832, 480), (512, 512)]

CHECKPOINTS: dict[str, list[str]] = {
    "Pony": ["Pony Diffusion V6 XL", "AutismMix SDXL", "CyberRealistic Pony"],
    "Illustrious": ["WAI-NSFW-illustrious-SDXL", "NoobAI-XL (NAI-XL)", "Illustrious-XL"],
    "SDXL 1.0": ["Juggernaut XL", "RealVisXL V5.0", "DreamShaper XL"],
    "SD 1.5": ["DreamShaper", "Realistic Vision V6.0 B1", "MeinaMix", "Counterfeit-V3.0"],
    "Flux.1 D": ["FLUX.1 [dev]", "Flux Fusion DS"],
    VIDEO_BASE_MODEL: ["Wan2.1 T2V 14B"],
}
LORAS: list[str] = [
    "Detail Tweaker XL",
    "Add More Details - Detail Enhancer",
    "Hand Fine Tuning",
    "Pixel Art XL",
    "Film Grain Style",
    "Watercolor Dreams",
    "Neon Cyberpunk",
    "Age Slider",
    "Studio Ghibli Style",
    "Ink Wash Painting",
    "Better Eyes",
    "Cinematic Lighting",
    "Retro Anime 90s",
    "Oil Painting Texture",
    "Clay Render",
    "Vaporwave Aesthetic",
    "Fantasy Armor",
    "Stained Glass",
    "Low Poly World",
    "Sketch Lineart",
]
EMBEDDINGS: list[str] = [
    "EasyNegative",
    "badhandv4",
    "negativeXL_D",
    "ng_deepnegative_v1_75t",
    "Pony PDXL Negative",
]
VERSION_NAMES = ["v1.0", "v2.0", "V3", "v4.5", "Final", "XL", "beta", "1.1"]

SAMPLERS = [
    "Euler a",
    "DPM++ 2M Karras",
    "DPM++ 2M",
    "DPM++ SDE Karras",
    "Euler",
    "DPM++ 2M SDE",
    "DDIM",
    "UniPC",
    "Heun",
]
UPSCALERS = ["4x-UltraSharp", "R-ESRGAN 4x+ Anime6B", "Latent", "4x_NMKD-Siax_200k"]

QUALITY_PREFIX = {
    "Pony": "score_9, score_8_up, score_7_up, ",
    "Illustrious": "masterpiece, best quality, amazing quality, ",
    "SDXL 1.0": "",
    "SD 1.5": "(masterpiece:1.2), best quality, ",
    "Flux.1 D": "",
    VIDEO_BASE_MODEL: "",
}
SUBJECTS = [
    "1girl, solo, long hair",
    "a red fox in the snow",
    "portrait of an old fisherman",
    "a knight in silver armor",
    "cyberpunk street at night",
    "a cozy cabin in the mountains",
    "1boy, short hair, hoodie",
    "a dragon curled around a tower",
    "a cat sleeping on a windowsill",
    "astronaut floating above a planet",
    "a lighthouse during a storm",
    "girl with a paper umbrella",
    "ancient temple in a jungle",
    "a robot tending a garden",
]
DETAILS = [
    "looking at viewer",
    "smile",
    "blue eyes",
    "upper body",
    "full body",
    "outdoors",
    "cherry blossoms",
    "dramatic lighting",
    "rim light",
    "depth of field",
    "bokeh",
    "volumetric fog",
    "highly detailed",
    "sharp focus",
    "golden hour",
    "rain",
    "neon lights",
    "wide shot",
    "intricate details",
    "soft shadows",
]
NEGATIVES = [
    "worst quality, low quality",
    "lowres, bad anatomy, bad hands",
    "text, watermark, signature",
    "blurry, jpeg artifacts",
    "extra fingers, deformed",
    "score_6, score_5, score_4",
]
FLUX_SENTENCES = [
    "A photograph of {subject}, shot on 35mm film with soft natural light.",
    "An illustration of {subject} in a muted pastel palette.",
    "A cinematic still of {subject}, moody atmosphere, shallow depth of field.",
]

# (tag name, type, nsfw level); Moderation tags match an image's rating.
TAGS: list[tuple[str, str, int]] = [
    ("woman", "Label", 1),
    ("man", "Label", 1),
    ("portrait", "Label", 1),
    ("landscape", "Label", 1),
    ("anime", "Label", 1),
    ("photorealistic", "Label", 1),
    ("illustration", "Label", 1),
    ("fantasy", "Label", 1),
    ("sci-fi", "Label", 1),
    ("animal", "Label", 1),
    ("architecture", "Label", 1),
    ("vehicle", "Label", 1),
    ("long hair", "UserGenerated", 1),
    ("short hair", "UserGenerated", 1),
    ("blue eyes", "UserGenerated", 1),
    ("smile", "UserGenerated", 1),
    ("outdoors", "UserGenerated", 1),
    ("indoors", "UserGenerated", 1),
    ("night", "UserGenerated", 1),
    ("city", "UserGenerated", 1),
    ("forest", "UserGenerated", 1),
    ("mountain", "UserGenerated", 1),
    ("snow", "UserGenerated", 1),
    ("rain", "UserGenerated", 1),
    ("sunset", "UserGenerated", 1),
    ("flower", "UserGenerated", 1),
    ("cat", "UserGenerated", 1),
    ("fox", "UserGenerated", 1),
    ("dragon", "UserGenerated", 1),
    ("robot", "UserGenerated", 1),
    ("armor", "UserGenerated", 1),
    ("sword", "UserGenerated", 1),
    ("hat", "UserGenerated", 1),
    ("glasses", "UserGenerated", 1),
    ("dress", "UserGenerated", 1),
    ("hoodie", "UserGenerated", 1),
    ("kimono", "UserGenerated", 1),
    ("cyberpunk", "UserGenerated", 1),
    ("neon", "UserGenerated", 1),
    ("watercolor", "UserGenerated", 1),
    ("pixel art", "UserGenerated", 1),
    ("3d", "UserGenerated", 1),
    ("sky", "UserGenerated", 1),
    ("clouds", "UserGenerated", 1),
    ("water", "UserGenerated", 1),
    ("beach", "UserGenerated", 1),
    ("castle", "UserGenerated", 1),
    ("space", "UserGenerated", 1),
    ("food", "UserGenerated", 1),
    ("close-up", "UserGenerated", 1),
    ("full body", "UserGenerated", 1),
    ("upper body", "UserGenerated", 1),
    ("猫耳", "UserGenerated", 1),
    ("swimwear", "UserGenerated", 2),
    ("suggestive", "Moderation", 2),
    ("revealing clothes", "Moderation", 2),
    ("partial nudity", "Moderation", 4),
    ("nudity", "Moderation", 8),
    ("sexual situations", "Moderation", 16),
]

USERNAME_HEADS = [
    "neon",
    "pixel",
    "lunar",
    "velvet",
    "quiet",
    "amber",
    "cobalt",
    "misty",
    "static",
    "golden",
    "paper",
    "iron",
    "Hazy",
    "Crimson",
    "Silent",
    "Tiny",
]
USERNAME_TAILS = [
    "Fox",
    "Forge",
    "Dreamer",
    "Atelier",
    "Raven",
    "Lotus",
    "Circuit",
    "Muse",
    "Wanderer",
    "Brush",
    "_art",
    "_ai",
    "Studio",
    "Lab",
]

COLLECTION_NAMES = [
    "Favourites",
    "Inspiration",
    "Backgrounds",
    "Prompt study",
    "Lighting references",
]
HOSTILE_COLLECTION_NAME = 'Demo <b>faves</b> & "quotes" 🌸 收藏'
HOSTILE_PROMPT = (
    '<script>alert(1)</script> "quoted words", commas, and: colons\n'
    "second line with emoji 🦊✨ and CJK 狐の嫁入り, 한국어\n"
    "<img src=x onerror=alert(2)> {{template}} ${injection} ../../etc/passwd"
)
HOSTILE_NEGATIVE = 'bad "hands", lowres\n<b>not bold</b>: 100%'
HOSTILE_NAME = '../../etc/passwd/<b>x</b> "quoted".png'
