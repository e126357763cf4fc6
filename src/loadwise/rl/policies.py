"""The router's two policies, in torch.

Architecture (documented choice, spec 04 "The router"):

- The planner and the executor are **separate networks**: they see different inputs,
  decide at different times (once per workflow vs once per role step) and at very
  different frequencies, so sharing a trunk would let the ~10× more frequent executor
  gradients overwrite what the planner learned.
- Inside each policy the actor and the critic have **separate trunks** (as in CleanRL's
  PPO): the critic's targets (reward and cost returns) have other scales than the
  policy gradient. The critic has one trunk and two heads, reward value and cost value,
  which share what they must both know (how loaded the servers are, how tight the
  budget is).

Distributions skip torch's argument validation (`validate_args=False`): the logits come
from the networks themselves, and the checks cost a tenth of a PPO update.

Both policies expose `act` (sample or take the most likely action, returning what PPO
stores) and `evaluate` (what `ppo.ppo_update` needs).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical

from loadwise.rl.features import PLAN_FEATURE_DIM, executor_dims
from loadwise.systems.agentserve.routing import MAX_AGENTS, N_ACTIONS, ROLES, TOPOLOGIES


def mlp(inputs: int, hidden: int, outputs: int, out_gain: float = 1.0) -> nn.Sequential:
    """Two tanh hidden layers, orthogonal init (the usual PPO recipe)."""
    layers = [nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, outputs)]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=2**0.5)
            nn.init.zeros_(layer.bias)
    nn.init.orthogonal_(layers[-1].weight, gain=out_gain)
    return nn.Sequential(*layers)


class _RewardCostCritic(nn.Module):
    """A policy whose `critic` maps an observation to (reward value, cost value)."""

    critic: nn.Module

    def values(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.critic(obs)
        return v[:, 0], v[:, 1]


class ExecutorPolicy(_RewardCostCritic):
    """Step observation → one of `n_actions` (model, strategy) pairs; reward and cost values.

    When `pair_features` > 0 the observation ends with `n_actions × pair_features` numbers
    describing each pair (e.g. predicted latency over remaining budget, success
    probability); a small network shared by all pairs scores each pair from its own
    features and the step context, and its score is added to the trunk's logit for that
    pair. The same weights then judge every pair, so what is learned about "a pair that
    will not fit the budget" transfers across models.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64, pair_features: int = 0) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.n_actions = n_actions
        self.pair_features = pair_features
        context = obs_dim - n_actions * pair_features
        if context <= 0:
            raise ValueError("observation too short for its per-pair features")
        self.context_dim = context
        self.actor = mlp(context, hidden, n_actions, out_gain=0.01)
        self.pair_scorer = mlp(context + pair_features, hidden // 2, 1, out_gain=0.01) if pair_features else None
        self.critic = mlp(obs_dim, hidden, 2)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        context = obs[:, : self.context_dim]
        logits = self.actor(context)
        if self.pair_scorer is not None:
            pairs = obs[:, self.context_dim:].reshape(-1, self.n_actions, self.pair_features)
            ctx = context.unsqueeze(1).expand(-1, self.n_actions, -1)
            logits = logits + self.pair_scorer(torch.cat([ctx, pairs], dim=-1)).squeeze(-1)
        return logits

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None,
            greedy: bool = False, temperature: float = 1.0) -> tuple[torch.Tensor, ...]:
        """(actions, logp, value_reward, value_cost) for a batch of observations.

        Actions are sampled from softmax(logits / temperature) (1: the policy itself),
        or the most likely one when `greedy`; logp is always under the policy itself.
        """
        logits = self.logits(obs)
        if greedy:
            actions = logits.argmax(dim=-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            actions = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        logp = torch.log_softmax(logits, dim=-1).gather(1, actions[:, None]).squeeze(1)
        v_r, v_c = self.values(obs)
        return actions, logp, v_r, v_c

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dist = Categorical(logits=self.logits(obs), validate_args=False)
        v_r, v_c = self.values(obs)
        return dist.log_prob(actions), dist.entropy(), v_r, v_c


def _sharpen(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """probs ** (1 / temperature), renormalized: softmax(logits / temperature)."""
    if temperature == 1.0:
        return probs
    p = probs.clamp_min(1e-30) ** (1.0 / temperature)
    return p / p.sum(dim=-1, keepdim=True)


class PlannerPolicy(_RewardCostCritic):
    """Plan observation → (topology, agent count, one role per agent); reward and cost values.

    The action is factored as p(topology) · p(agents | topology) · Π_i p(role_i) for the
    agents actually used: the agent-count head sees the chosen topology (one-hot) so that
    topologies with a fixed number of agents can be respected through `agents_allowed`
    (topologies × max_agents booleans). Actions are stored as integer rows
    [topology, agents − 1, role_0, …, role_{max_agents−1}] (unused role slots hold 0 and
    do not count).
    """

    def __init__(self, obs_dim: int, n_topologies: int, max_agents: int, n_roles: int,
                 agents_allowed: torch.Tensor | None = None, hidden: int = 64) -> None:
        super().__init__()
        self.n_topologies, self.max_agents, self.n_roles = n_topologies, max_agents, n_roles
        if agents_allowed is None:
            agents_allowed = torch.ones(n_topologies, max_agents, dtype=torch.bool)
        self.register_buffer("agents_allowed", agents_allowed.clone().bool())
        self.trunk = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.topology_head = nn.Linear(hidden, n_topologies)
        self.agents_head = nn.Linear(hidden + n_topologies, max_agents)
        self.roles_head = nn.Linear(hidden, max_agents * n_roles)
        for head in (self.topology_head, self.agents_head, self.roles_head):
            nn.init.orthogonal_(head.weight, gain=0.01)
            nn.init.zeros_(head.bias)
        self.critic = mlp(obs_dim, hidden, 2)

    def _distributions(self, obs: torch.Tensor, topology: torch.Tensor | None, generator, greedy: bool,
                       temperature: float = 1.0):
        h = self.trunk(obs)
        topo_dist = Categorical(logits=self.topology_head(h), validate_args=False)
        if topology is None:
            topology = topo_dist.probs.argmax(-1) if greedy else torch.multinomial(
                _sharpen(topo_dist.probs, temperature), 1, generator=generator).squeeze(-1)
        onehot = nn.functional.one_hot(topology, self.n_topologies).to(h.dtype)
        agent_logits = self.agents_head(torch.cat([h, onehot], dim=-1))
        agent_logits = agent_logits.masked_fill(~self.agents_allowed[topology], float("-inf"))
        role_logits = self.roles_head(h).reshape(-1, self.max_agents, self.n_roles)
        return (topology, topo_dist, Categorical(logits=agent_logits, validate_args=False),
                Categorical(logits=role_logits, validate_args=False))

    def _log_prob_entropy(self, actions, topo_dist, agent_dist, role_dist):
        topology, agents_m1, roles = actions[:, 0], actions[:, 1], actions[:, 2:]
        used = torch.arange(self.max_agents, device=actions.device)[None, :] <= agents_m1[:, None]
        role_logp = (role_dist.log_prob(roles) * used).sum(-1)
        role_entropy = (role_dist.entropy() * used).sum(-1)
        logp = topo_dist.log_prob(topology) + agent_dist.log_prob(agents_m1) + role_logp
        entropy = topo_dist.entropy() + agent_dist.entropy() + role_entropy
        return logp, entropy

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None,
            greedy: bool = False, temperature: float = 1.0) -> tuple[torch.Tensor, ...]:
        """(actions (N, 2 + max_agents), logp, value_reward, value_cost); `temperature` as in
        `ExecutorPolicy.act`, applied to each factor."""
        topology, topo_dist, agent_dist, role_dist = self._distributions(obs, None, generator, greedy, temperature)
        if greedy:
            agents_m1 = agent_dist.probs.argmax(-1)
            roles = role_dist.probs.argmax(-1)
        else:
            agents_m1 = torch.multinomial(_sharpen(agent_dist.probs, temperature), 1, generator=generator).squeeze(-1)
            flat = _sharpen(role_dist.probs.reshape(-1, self.n_roles), temperature)
            roles = torch.multinomial(flat, 1, generator=generator).reshape(-1, self.max_agents)
        used = torch.arange(self.max_agents)[None, :] <= agents_m1[:, None]
        roles = torch.where(used, roles, torch.zeros_like(roles))
        actions = torch.cat([topology[:, None], agents_m1[:, None], roles], dim=1)
        logp, _ = self._log_prob_entropy(actions, topo_dist, agent_dist, role_dist)
        v_r, v_c = self.values(obs)
        return actions, logp, v_r, v_c

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        _, topo_dist, agent_dist, role_dist = self._distributions(obs, actions[:, 0], None, False)
        logp, entropy = self._log_prob_entropy(actions, topo_dist, agent_dist, role_dist)
        v_r, v_c = self.values(obs)
        return logp, entropy, v_r, v_c


def make_policies(hidden: int = 64, observation: str = "full") -> tuple[PlannerPolicy, ExecutorPolicy]:
    """Fresh planner and executor networks for the agentserve action spaces."""
    planner = PlannerPolicy(PLAN_FEATURE_DIM, len(TOPOLOGIES), MAX_AGENTS, len(ROLES), hidden=hidden)
    width, pair_features = executor_dims(observation)
    executor = ExecutorPolicy(width, N_ACTIONS, hidden=hidden, pair_features=pair_features)
    return planner, executor
