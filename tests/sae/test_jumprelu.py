import torch

from interp.sae import SAEConfig, make_sae
from interp.sae.archs.jumprelu import JumpReLUFn, StepFn

from .conftest import quick_train


def test_threshold_gates_and_is_a_parameter():
    sae = make_sae(SAEConfig(arch="jumprelu", d_in=8, d_sae=16, jumprelu_threshold=0.5))
    assert "threshold" in dict(sae.named_parameters())
    x = torch.randn(40, 8)
    pre = sae.pre_acts(x)
    z = sae.encode_scaled(x)
    assert torch.equal(z, pre * (pre > 0.5))


def test_straight_through_gradient_reaches_threshold():
    pre = torch.tensor([[0.49, 0.52, 0.9, 0.1]], requires_grad=True)
    thr = torch.full((4,), 0.5, requires_grad=True)
    JumpReLUFn.apply(pre, thr, 0.1).sum().backward()
    # within the kernel (|pre - θ| < ε/2): dθ = -θ/ε; outside: 0; dpre = H(pre - θ)
    assert torch.allclose(thr.grad, torch.tensor([-5.0, -5.0, 0.0, 0.0]))
    assert torch.equal(pre.grad, torch.tensor([[0.0, 1.0, 1.0, 0.0]]))
    thr.grad = None
    pre.grad = None
    StepFn.apply(pre, thr, 0.1).sum().backward()
    assert torch.allclose(thr.grad, torch.tensor([-10.0, -10.0, 0.0, 0.0]))
    assert pre.grad is None or (pre.grad == 0).all()


def test_l0_penalty_trains_sparse(toy_data):
    _, x = toy_data
    weak = quick_train(x, "jumprelu", l0_coeff=0.01)
    strong = quick_train(x, "jumprelu", l0_coeff=1.0)
    assert strong.history[-1]["l0"] < weak.history[-1]["l0"]
    assert weak.history[-1]["mse"] < 0.5 * weak.history[0]["mse"]
    assert (strong.sae.threshold > 0).all()
