#!/usr/bin/env python3
"""Reference for tests/test_ensemble.c test_fit_stack_reference: an L2-regularised
multinomial logistic regression (the stacking combiner, mgc/ensemble/combine.h) fitted by
Newton's method in float64 on float32 member probabilities. Prints the C arrays
the test hard-codes (REF_P, REF_W, REF_B, REF_F). Needs only numpy:
  /usr/bin/python3 tests/ensemble_stack_ref.py"""
import numpy as np
rng = np.random.RandomState(6)
n, M, C = 12, 2, 3
y = np.array([i % C for i in range(n)])
P = np.zeros((n, M, C))
for i in range(n):
    a = rng.dirichlet([1, 1, 1])           # member 0: noise
    b = rng.dirichlet([1, 1, 1]) * 0.4
    b[(y[i] + 1) % C] += 0.6               # member 1: informative, classes shifted by one
    P[i, 0], P[i, 1] = a, b
P = P.astype(np.float32).astype(np.float64)
l2 = 0.05
X = P.reshape(n, M * C)
F = M * C
def obj(th):
    W = th[:C * F].reshape(C, F); b = th[C * F:]
    Z = X @ W.T + b
    Z -= Z.max(1, keepdims=True)
    lse = np.log(np.exp(Z).sum(1))
    Pr = np.exp(Z - lse[:, None])
    f = np.mean(lse - Z[np.arange(n), y]) + 0.5 * l2 * (W ** 2).sum()
    G = Pr.copy(); G[np.arange(n), y] -= 1
    gW = G.T @ X / n + l2 * W; gb = G.mean(0)
    # Hessian
    H = np.zeros((C * F + C, C * F + C))
    Xa = np.hstack([X, np.ones((n, 1))])
    for i in range(n):
        p = Pr[i]; S = np.diag(p) - np.outer(p, p)
        K = np.kron(S, np.outer(Xa[i], Xa[i])) / n   # order: class-major, features+1
        H += K
    # reorder to [W (C x F) | b (C)]
    idx = [k * (F + 1) + j for k in range(C) for j in range(F)] + [k * (F + 1) + F for k in range(C)]
    H = H[np.ix_(idx, idx)]
    H[:C * F, :C * F] += l2 * np.eye(C * F)
    return f, np.concatenate([gW.ravel(), gb]), H, Pr
th = np.zeros(C * F + C)
for it in range(50):
    f, g, H, Pr = obj(th)
    if np.abs(g).max() < 1e-15: break
    th -= np.linalg.pinv(H) @ g
f, g, H, Pr = obj(th)
print("iters", it, "f %.17g gmax %.3g" % (f, np.abs(g).max()))
print("sum b", th[C*F:].sum(), "acc", (Pr.argmax(1) == y).mean())
np.set_printoptions(precision=17)
print("probs:")
for i in range(n):
    print("    " + ", ".join("%.9gf" % v for v in X[i]) + ",")
print("coef:")
W = th[:C*F].reshape(C, F)
for k in range(C): print("    " + ", ".join("%.15g" % v for v in W[k]) + ",")
print("intercept:", ", ".join("%.15g" % v for v in th[C*F:]))
print("objective %.15g" % f)
