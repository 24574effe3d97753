"""A per-sample DeepSets actor-critic for PPO/A2C on the raw ``MultiBinary(N)`` env.

One shared network scores every sample from its own feature row, a pooled summary of the whole
set (mean and max over samples, DeepSets: Zaheer et al. 2017) and the progress features, and
gives one Bernoulli logit per sample; the value head reads the pooled summary. No layer's size
depends on N, so a policy trained on the 5,000-sample proxy acts on 45,000 samples unchanged.
This is the learned per-sample selector of Neural Data Filter (Fan et al. 2017, a policy that
filters each mini-batch sample from its features) and DVRL (Yoon et al. 2020, a data-value
estimator giving per-sample selection probabilities trained by REINFORCE), here inside standard
PPO with a critic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import BernoulliDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from .features import masked_mean, squash, standardize

PAD_LOGIT = -1e4  # keep-logit of a padding row: probability 0, log-probability 0, entropy 0


def set_inputs(samples: th.Tensor, valid: th.Tensor | None = None) -> th.Tensor:
    """Per-sample network inputs: squashed features and the same standardised over the set.

    The unbounded columns are ``log1p``-ed; the standardised copy (zero mean, unit std over the
    N samples of each observation, the valid ones when ``valid`` is given;
    :func:`agents.features.standardize`) lets one weight express "higher loss than the others".

    :param samples: ``(B, N, F)`` raw per-sample features.
    :param valid: ``(B, N)`` 1 for real rows, 0 for padding, or None (all real).
    :return: ``(B, N, 2F)``.
    """
    x = squash(samples)
    return th.cat([x, standardize(x, axis=1, valid=valid)], dim=-1)


def mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them (none after the last).

    :param sizes: widths, input first.
    :param activation: activation class.
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b)] + ([activation()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


class DeepSetsPolicy(ActorCriticPolicy):
    """Actor-critic on ``Dict(samples=Box(N, F), progress=Box(G))`` with a ``MultiBinary(N)`` action.

    - encoder ``phi``: ``2F -> H -> H`` on each sample's inputs (:func:`set_inputs`);
    - pooled summary ``s = [mean_i phi_i, max_i phi_i, progress]`` (``2H + G``);
    - actor: ``[phi_i, s] -> H -> 1``, the Bernoulli logit of keeping sample i;
    - critic: ``s -> H -> 1``.

    A padded observation (``dataselect_env.tasks.TaskEnv``'s: a ``valid`` entry marking
    the real rows) is pooled and standardised over the real rows only, and padding rows get a
    keep probability of 0, so one policy trains across tasks of different N.

    ``H (6H + 2F + 2G + 6) + 2`` parameters (27,138 at ``H = 64``), independent of N. Use with
    ``PPO(DeepSetsPolicy, env)`` or ``A2C``; actions are int8 masks, as the env asks.

    **Subset size.** Each sample is kept with its own probability, so the policy chooses how many
    samples to train on. Under the env's default reward (``gain_per_compute``: validation
    accuracy gain per unit of compute) a smaller subset is rewarded for the compute it saves;
    nothing else constrains the kept fraction. ``SB3Agent(keep=k)`` instead keeps the ``k * N``
    highest logits, to compare at a fixed keep fraction.

    **Memory.** The rollout buffer stores ``n_steps x n_envs`` observations of ``N x F`` float32
    plus ``N`` float32 actions: ``40 N`` bytes per step, 1.8 MB at N = 45,000 (full CIFAR-10),
    0.2 MB on the 5,000-sample proxy; 64 whole 10-epoch episodes of full CIFAR-10 take 1.2 GB.
    The gradient step holds about ``batch_size x N x 8H`` float32 activations (1.5 GB for a
    minibatch of 16 observations at N = 45,000 and H = 64): keep minibatches small for large N
    (``dataselect_harness.train`` uses at most 16).

    :param observation_space: the env's Dict observation space.
    :param action_space: the env's ``MultiBinary(N)`` action space.
    :param lr_schedule: learning-rate schedule (from the algorithm).
    :param hidden: width H of every layer.
    :param activation_fn: activation between layers.
    :param kwargs: other ``ActorCriticPolicy`` arguments (``ortho_init``, ``optimizer_class``, ...).
    """

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.MultiBinary, lr_schedule: Schedule,
                 hidden: int = 64, activation_fn: type[nn.Module] = nn.Tanh, **kwargs: Any):
        raw = isinstance(observation_space, spaces.Dict) and {"samples", "progress"} <= set(observation_space.spaces)
        if not raw:
            raise TypeError("DeepSetsPolicy needs the raw env's Dict(samples=Box(N, F), progress=Box(G)) "
                            f"observation; got {observation_space}. Wrapped envs (LossBins, LinearScore) "
                            "use 'MlpPolicy'.")
        if not isinstance(action_space, spaces.MultiBinary):
            raise TypeError(f"DeepSetsPolicy needs the raw env's MultiBinary(N) action (action_mode='mask'); "
                            f"got {action_space}")
        self.hidden = int(hidden)
        kwargs.pop("net_arch", None)
        super().__init__(observation_space, action_space, lr_schedule, net_arch=[], activation_fn=activation_fn,
                         **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        """Create the encoder, the two heads and the optimizer (replaces SB3's MLP extractor)."""
        n_feat = self.observation_space["samples"].shape[-1]
        n_prog = self.observation_space["progress"].shape[-1]
        h, act = self.hidden, self.activation_fn
        self.encoder = mlp([2 * n_feat, h, h], act)
        self.actor = mlp([3 * h + n_prog, h, 1], act)
        self.critic = mlp([2 * h + n_prog, h, 1], act)
        if self.ortho_init:
            for module, gain in [(self.encoder, np.sqrt(2)), (self.actor, np.sqrt(2)), (self.critic, np.sqrt(2)),
                                 (self.actor[-1], 0.01), (self.critic[-1], 1.0)]:
                module.apply(lambda m, g=gain: self.init_weights(m, gain=g))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(hidden=self.hidden)
        return data

    def logits_and_values(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """Per-sample keep logits ``(B, N)`` and state values ``(B, 1)``, for any N.

        :param obs: ``{"samples": (B, N, F), "progress": (B, G)}`` float tensors, and optionally
            ``"valid"`` ``(B, N)`` (1 = real row, 0 = padding).
        """
        n_feat = self.observation_space["samples"].shape[-1]  # a v0 policy reads a v1 observation's first columns
        samples, progress = obs["samples"][..., :n_feat].float(), obs["progress"].float()
        valid = obs["valid"].float() if "valid" in obs else None
        phi = self.encoder(set_inputs(samples, valid))
        peak = phi if valid is None else phi.masked_fill(valid[..., None] == 0, float("-inf"))
        summary = th.cat([masked_mean(phi, 1, valid)[:, 0], peak.amax(dim=1), progress], dim=-1)
        per_sample = th.cat([phi, summary[:, None, :].expand(-1, phi.shape[1], -1)], dim=-1)
        logits = self.actor(per_sample).squeeze(-1)
        if valid is not None:
            logits = logits.masked_fill(valid == 0, PAD_LOGIT)
        return logits, self.critic(summary)

    def _distribution(self, logits: th.Tensor) -> BernoulliDistribution:
        return BernoulliDistribution(logits.shape[-1]).proba_distribution(action_logits=logits)

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Sampled (or modal) int8 masks, values and log-probabilities, as PPO's rollout needs."""
        logits, values = self.logits_and_values(obs)
        dist = self._distribution(logits)
        actions = dist.get_actions(deterministic=deterministic)
        return actions.to(th.int8), values, dist.log_prob(actions)

    def evaluate_actions(self, obs: PyTorchObs, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Values, log-likelihood of ``actions`` and entropy (sums over the N Bernoullis)."""
        logits, values = self.logits_and_values(obs)
        dist = self._distribution(logits)
        return values, dist.log_prob(actions.float()), dist.entropy()

    def get_distribution(self, obs: PyTorchObs) -> BernoulliDistribution:
        """The N independent Bernoulli distributions of an observation."""
        return self._distribution(self.logits_and_values(obs)[0])

    def predict_values(self, obs: PyTorchObs) -> th.Tensor:
        """State values ``(B, 1)``."""
        return self.logits_and_values(obs)[1]

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.get_distribution(observation).get_actions(deterministic=deterministic).to(th.int8)
