"""Reference MusicFM (25 Hz) for the tests: the official code, transcribed.

Source: github.com/minzwon/musicfm (MIT, Copyright 2023 ByteDance Inc.), commit b83ebed:
``model/musicfm_25hz.py`` (``MusicFM25Hz``: module tree, strict loading of ``pretrained_msd.pt``,
``preprocessing``/``normalize``/``encoder``/``get_predictions``), ``modules/conv.py``
(``Res2dModule``, ``Conv2dSubsampling``), ``modules/features.py`` (``MelSTFT``),
``modules/random_quantizer.py`` (``RandomProjectionQuantizer``: its buffers and seeding only).
Independent of ``lobes.musicfm``: nothing is imported from the project.

Deviations, all forced by running offline and tiny: the conformer config comes from
``conformer_options`` (the official code loads ``facebook/wav2vec2-conformer-rope-large-960h-ft``
from the hub and sets ``num_hidden_layers``/``hidden_size``); ``n_fft`` is an argument (2048 there);
``einops.rearrange`` (not installed) is written out with transposes; transformers >= 5's conformer
encoder no longer returns ``hidden_states``, so :func:`conformer_encoder_v4` transcribes the
transformers 4.x ``Wav2Vec2ConformerEncoder.forward`` MusicFM was written against (eval, no mask:
the input of each layer, then the output of the last layer after the encoder's ``layer_norm``), with
eager attention; the pre-training-only methods (masking, tokenize, get_loss) are left out.

Example:
    >>> import torch
    >>> block = Res2dModule(1, 4, (2, 2)).eval()
    >>> tuple(block(torch.randn(1, 1, 8, 10)).shape)
    (1, 4, 4, 5)
"""
import json
import random

import torch
import torchaudio
from torch import nn
from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import (
    Wav2Vec2ConformerConfig,
    Wav2Vec2ConformerEncoder,
)


class Res2dModule(nn.Module):
    def __init__(self, idim, odim, stride=(2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(idim, odim, 3, padding=1, stride=stride)
        self.bn1 = nn.BatchNorm2d(odim)
        self.conv2 = nn.Conv2d(odim, odim, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(odim)
        self.relu = nn.ReLU()

        # residual
        self.diff = False
        if (idim != odim) or (stride[0] > 1):
            self.conv3 = nn.Conv2d(idim, odim, 3, padding=1, stride=stride)
            self.bn3 = nn.BatchNorm2d(odim)
            self.diff = True

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.diff:
            x = self.bn3(self.conv3(x))
        out = x + out
        out = self.relu(out)
        return out


class Conv2dSubsampling(nn.Module):
    """Convolutional 2D subsampling (to 1/4 length)."""

    def __init__(self, idim, hdim, odim, strides=(2, 2), n_bands=64):
        super().__init__()
        self.conv = nn.Sequential(
            Res2dModule(idim, hdim, (2, strides[0])),
            Res2dModule(hdim, hdim, (2, strides[1])),
        )
        self.linear = nn.Linear(hdim * n_bands // 2 // 2, odim)

    def forward(self, x):
        if x.dim() == 3:
            x = x.unsqueeze(1)  # (b, c, f, t)
        x = self.conv(x)
        x = x.transpose(1, 3).transpose(2, 3).flatten(2)  # rearrange "b c f t -> b t (c f)"
        x = self.linear(x)
        return x


class MelSTFT(nn.Module):
    def __init__(self, sample_rate=24000, n_fft=2048, hop_length=240, n_mels=128, is_db=False):
        super().__init__()
        # spectrogram
        self.mel_stft = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
        )
        # amplitude to decibel
        self.is_db = is_db
        if is_db:
            self.amplitude_to_db = torchaudio.transforms.AmplitudeToDB()

    def forward(self, waveform):
        if self.is_db:
            return self.amplitude_to_db(self.mel_stft(waveform))
        return self.mel_stft(waveform)


class RandomProjectionQuantizer(nn.Module):
    """Buffers (and the global seeding) of the official quantizer; its lookup is pre-training only."""

    def __init__(self, input_dim, codebook_dim, codebook_size, seed=142):
        super().__init__()
        torch.manual_seed(seed)
        random_projection = torch.empty(input_dim, codebook_dim)
        nn.init.xavier_normal_(random_projection)
        self.register_buffer("random_projection", random_projection)
        codebook = torch.empty(codebook_size, codebook_dim)
        nn.init.normal_(codebook)
        self.register_buffer("codebook", codebook)


def conformer_encoder_v4(encoder: Wav2Vec2ConformerEncoder, hidden_states: torch.Tensor) -> dict:
    """transformers 4.x ``Wav2Vec2ConformerEncoder.forward(x, output_hidden_states=True)`` (eval, no mask)."""
    all_hidden_states = ()
    hidden_states = encoder.dropout(hidden_states)
    relative_position_embeddings = None
    if encoder.embed_positions is not None:
        relative_position_embeddings = encoder.embed_positions(hidden_states)
    for layer in encoder.layers:
        all_hidden_states = all_hidden_states + (hidden_states,)
        layer_outputs = layer(hidden_states, attention_mask=None,
                              relative_position_embeddings=relative_position_embeddings)
        hidden_states = layer_outputs[0] if isinstance(layer_outputs, tuple) else layer_outputs
    hidden_states = encoder.layer_norm(hidden_states)
    all_hidden_states = all_hidden_states + (hidden_states,)
    return {"last_hidden_state": hidden_states, "hidden_states": all_hidden_states}


class MusicFM25Hz(nn.Module):
    """MusicFM: 128-band mel, 2-layer residual conv front end, conformer (official module names)."""

    def __init__(self, conformer_options, num_codebooks=1, codebook_dim=16, codebook_size=4096,
                 features=("melspec_2048",), hop_length=240, n_mels=128, conv_dim=512, encoder_dim=1024,
                 encoder_depth=12, n_fft=2048, stat_path="./data/fma_stats.json",
                 model_path="./data/pretrained_fma.pt"):
        super().__init__()
        self.hop_length = hop_length
        self.num_codebooks = num_codebooks
        self.codebook_size = codebook_size
        self.features = list(features)

        # load feature mean / std stats
        with open(stat_path, "r") as f:
            self.stat = json.load(f)

        # feature extractor
        self.preprocessor_melspec_2048 = MelSTFT(n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, is_db=True)

        # random quantizer
        seed = 142
        for feature in self.features:
            for i in range(num_codebooks):
                setattr(self, f"quantizer_{feature}_{i}",
                        RandomProjectionQuantizer(n_mels * 4, codebook_dim, codebook_size, seed=seed + i))

        # two residual convolution layers + one projection layer
        self.conv = Conv2dSubsampling(1, conv_dim, encoder_dim, strides=[2, 2], n_bands=n_mels)

        # Conformer
        config = Wav2Vec2ConformerConfig(**conformer_options)
        config.num_hidden_layers = encoder_depth
        config.hidden_size = encoder_dim
        config._attn_implementation = "eager"
        self.conformer = Wav2Vec2ConformerEncoder(config)

        # projection
        self.linear = nn.Linear(encoder_dim, codebook_size)

        # cls token (used for sequence classification)
        random.seed(seed)
        self.cls_token = nn.Parameter(torch.randn(encoder_dim))

        # load model
        if model_path:
            S = torch.load(model_path, weights_only=True)["state_dict"]
            SS = {k[6:]: v for k, v in S.items()}
            self.load_state_dict(SS, strict=True)

    @torch.no_grad()
    def preprocessing(self, x, features):
        """extract classic audio features"""
        precision = 16 if x.dtype == torch.float16 else 32
        out = {}
        for key in features:
            layer = getattr(self, "preprocessor_%s" % key)
            out[key] = layer.float()(x.float())[..., :-1]
            if precision == 16:
                out[key] = out[key].half()
        return out

    def encoder(self, x):
        """2-layer conv + w2v-conformer"""
        x = self.conv(x)
        out = conformer_encoder_v4(self.conformer, x)
        hidden_emb = out["hidden_states"]
        last_emb = out["last_hidden_state"]
        logits = self.linear(last_emb)
        logits = {key: logits[:, :, i * self.codebook_size: (i + 1) * self.codebook_size]
                  for i, key in enumerate(self.features)}
        return logits, hidden_emb

    @torch.no_grad()
    def normalize(self, x):
        """normalize the input audio to have zero mean unit variance"""
        for key in x.keys():
            x[key] = (x[key] - self.stat["%s_mean" % key]) / self.stat["%s_std" % key]
        return x

    def get_predictions(self, x):
        x = self.preprocessing(x, features=["melspec_2048"])
        x = self.normalize(x)
        logits, hidden_emb = self.encoder(x["melspec_2048"])
        return logits, hidden_emb

    def get_latent(self, x, layer_ix=12):
        _, hidden_states = self.get_predictions(x)
        return hidden_states[layer_ix]
