#!/usr/bin/env python3
"""Reference values for the losses of ctssl-contrastive, computed ONCE with PyTorch (float64, CPU).

Each loss is written here in plain PyTorch from the papers' equations and the authors' reference code
(SimCLR: google-research/simclr; MoCo v2: facebookresearch/moco; BYOL: deepmind byol; SwAV:
facebookresearch/swav main_swav.py; Barlow Twins: facebookresearch/barlowtwins main.py; VICReg:
facebookresearch/vicreg main_vicreg.py; DINO: facebookresearch/dino main_dino.py DINOLoss).
Nothing here imports the Rust code. Inputs are seeded (torch.manual_seed) float64 tensors; the JSON holds
the inputs, the parameters, the loss and the gradient of the loss with respect to each differentiable input.

Run from the repository root:
    python3 crates/ctssl-contrastive/scripts/make_fixtures.py
which writes crates/ctssl-contrastive/tests/fixtures/losses.json.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "losses.json")


def t2j(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).requires_grad_(True)


# ---------------------------------------------------------------- SimCLR
def nt_xent(za, zb, temperature):
    n = za.shape[0]
    z = F.normalize(torch.cat([za, zb], 0), dim=1)
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, targets)


# ---------------------------------------------------------------- MoCo v2
def info_nce(q, k, queue, temperature):
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1).detach()
    l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
    l_neg = torch.einsum("nc,kc->nk", q, queue)  # queue rows are normalised keys
    logits = torch.cat([l_pos, l_neg], 1) / temperature
    labels = torch.zeros(logits.shape[0], dtype=torch.long)
    return F.cross_entropy(logits, labels)


# ---------------------------------------------------------------- BYOL
def byol_one(p, z):
    p = F.normalize(p, dim=-1)
    z = F.normalize(z.detach(), dim=-1)
    return (2 - 2 * (p * z).sum(-1)).mean()


def byol_symmetric(p1, p2, z1, z2):
    return byol_one(p1, z2) + byol_one(p2, z1)


# ---------------------------------------------------------------- SwAV
@torch.no_grad()
def sinkhorn(out, eps, iters):
    Q = torch.exp(out / eps).t()
    B = Q.shape[1]
    K = Q.shape[0]
    Q /= torch.sum(Q)
    for _ in range(iters):
        Q /= torch.sum(Q, dim=1, keepdim=True)
        Q /= K
        Q /= torch.sum(Q, dim=0, keepdim=True)
        Q /= B
    Q *= B
    return Q.t()


def swav(scores, crops_for_assign, temperature, eps, iters, queue_scores=None):
    """scores: list of [B, K] prototype scores, one per crop; queue_scores: optional list, one per assigned crop."""
    bs = scores[0].shape[0]
    loss = 0
    for i, crop_id in enumerate(crops_for_assign):
        out = scores[crop_id].detach()
        if queue_scores is not None:
            out = torch.cat([queue_scores[i], out])
        q = sinkhorn(out, eps, iters)[-bs:]
        subloss = 0
        for v in [v for v in range(len(scores)) if v != crop_id]:
            x = scores[v] / temperature
            subloss -= torch.mean(torch.sum(q * F.log_softmax(x, dim=1), dim=1))
        loss += subloss / (len(scores) - 1)
    return loss / len(crops_for_assign)


# ---------------------------------------------------------------- Barlow Twins
def off_diagonal(x):
    n, m = x.shape
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def barlow_twins(z1, z2, lambd):
    bn = torch.nn.BatchNorm1d(z1.shape[1], affine=False)
    bn.train()
    c = bn(z1).T @ bn(z2) / z1.shape[0]
    on_diag = torch.diagonal(c).add_(-1).pow_(2).sum()
    off_diag = off_diagonal(c).pow_(2).sum()
    return on_diag + lambd * off_diag


# ---------------------------------------------------------------- VICReg
def vicreg(x, y, sim_coeff, std_coeff, cov_coeff):
    n, d = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + 0.0001)
    std_y = torch.sqrt(y.var(dim=0) + 0.0001)
    std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
    cov_x = (x.T @ x) / (n - 1)
    cov_y = (y.T @ y) / (n - 1)
    cov_loss = off_diagonal(cov_x).pow_(2).sum().div(d) + off_diagonal(cov_y).pow_(2).sum().div(d)
    return sim_coeff * repr_loss + std_coeff * std_loss + cov_coeff * cov_loss


# ---------------------------------------------------------------- DINO
def dino(student, teacher, center, student_temp, teacher_temp):
    """student: list of [B, K] outputs (global crops first); teacher: list of [B, K] for the global crops."""
    q_all = [F.softmax((t - center) / teacher_temp, dim=-1).detach() for t in teacher]
    total, n = 0, 0
    for iq, q in enumerate(q_all):
        for v in range(len(student)):
            if v == iq:
                continue
            loss = torch.sum(-q * F.log_softmax(student[v] / student_temp, dim=-1), dim=-1)
            total += loss.mean()
            n += 1
    return total / n


@torch.no_grad()
def dino_center(center, teacher, momentum):
    t = torch.cat(teacher)
    batch_center = torch.sum(t, dim=0, keepdim=True) / len(t)
    return center * momentum + batch_center * (1 - momentum)


def case(loss, inputs, grads_of, params, extra=None):
    loss.backward()
    c = {
        "params": params,
        "inputs": {k: t2j(v) for k, v in inputs.items()},
        "loss": float(loss.detach()),
        "grads": {k: t2j(inputs[k].grad if inputs[k].grad is not None else torch.zeros_like(inputs[k])) for k in grads_of},
    }
    if extra:
        c.update(extra)
    return c


def main():
    torch.manual_seed(20231129)
    cases = {}

    za, zb = leaf(6, 5), leaf(6, 5)
    cases["nt_xent"] = case(nt_xent(za, zb, 0.5), {"z_a": za, "z_b": zb}, ["z_a", "z_b"], {"temperature": 0.5})

    q, k = leaf(4, 6), leaf(4, 6)
    queue = F.normalize(torch.randn(10, 6), dim=1)
    cases["info_nce"] = case(
        info_nce(q, k, queue, 0.2), {"q": q, "k": k, "queue": queue.requires_grad_(False)}, ["q", "k"],
        {"temperature": 0.2})

    p1, p2, z1, z2 = leaf(5, 4), leaf(5, 4), leaf(5, 4), leaf(5, 4)
    cases["byol"] = case(byol_symmetric(p1, p2, z1, z2), {"p1": p1, "p2": p2, "z1": z1, "z2": z2},
                         ["p1", "p2", "z1", "z2"], {})

    # SwAV: scores are cosine similarities between normalised features and normalised prototypes.
    B, K, D = 4, 6, 5
    protos = F.normalize(torch.randn(K, D), dim=1)
    feats = [F.normalize(torch.randn(B, D), dim=1) for _ in range(4)]  # 2 global + 2 small crops
    scores = [(f @ protos.t()).clone().requires_grad_(True) for f in feats]
    inputs = {f"s{i}": s for i, s in enumerate(scores)}
    cases["swav"] = case(swav(scores, [0, 1], 0.1, 0.05, 3), inputs, list(inputs), {
        "temperature": 0.1, "epsilon": 0.05, "iterations": 3, "crops_for_assign": [0, 1]})
    # SwAV with a queue of 8 past features per assigned crop.
    qfeats = [F.normalize(torch.randn(8, D), dim=1) for _ in range(2)]
    scores_q = [(f @ protos.t()).clone().requires_grad_(True) for f in feats]
    qs = [f @ protos.t() for f in qfeats]
    inputs = {f"s{i}": s for i, s in enumerate(scores_q)}
    inputs.update({f"queue{i}": s for i, s in enumerate(qs)})
    cases["swav_queue"] = case(swav(scores_q, [0, 1], 0.1, 0.05, 3, qs), inputs, [f"s{i}" for i in range(4)], {
        "temperature": 0.1, "epsilon": 0.05, "iterations": 3, "crops_for_assign": [0, 1]})
    # Sinkhorn alone.
    sk_in = torch.randn(7, 5) * 0.5
    cases["sinkhorn"] = {"params": {"epsilon": 0.05, "iterations": 3}, "inputs": {"scores": t2j(sk_in)},
                         "output": t2j(sinkhorn(sk_in.clone(), 0.05, 3))}

    z1, z2 = leaf(8, 5), leaf(8, 5)
    cases["barlow_twins"] = case(barlow_twins(z1, z2, 0.0051), {"z1": z1, "z2": z2}, ["z1", "z2"], {"lambda": 0.0051})

    x, y = leaf(8, 5, scale=0.7), leaf(8, 5, scale=0.7)
    cases["vicreg"] = case(vicreg(x, y, 25.0, 25.0, 1.0), {"x": x, "y": y}, ["x", "y"],
                           {"sim_coeff": 25.0, "std_coeff": 25.0, "cov_coeff": 1.0})

    B, K = 3, 7
    student = [leaf(B, K) for _ in range(4)]  # 2 global + 2 local crops
    teacher = [torch.randn(B, K) for _ in range(2)]
    center = torch.randn(1, K) * 0.1
    inputs = {f"student{i}": s for i, s in enumerate(student)}
    inputs.update({"teacher0": teacher[0], "teacher1": teacher[1], "center": center})
    cases["dino"] = case(dino(student, teacher, center, 0.1, 0.04), inputs, [f"student{i}" for i in range(4)],
                         {"student_temp": 0.1, "teacher_temp": 0.04, "center_momentum": 0.9},
                         {"new_center": t2j(dino_center(center, teacher, 0.9))})

    doc = {
        "header": ("Generated once by crates/ctssl-contrastive/scripts/make_fixtures.py with PyTorch "
                   + torch.__version__ + " (float64, CPU, torch.manual_seed(20231129)); each loss is an "
                   "independent plain-PyTorch transcription of the paper / authors' reference code. "
                   "Tensors are {shape, data} in row-major order; grads are d loss / d input."),
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
