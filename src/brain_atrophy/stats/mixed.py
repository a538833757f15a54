"""REML linear mixed model with a random intercept and slope per subject (unstructured 2×2).

    y = Xβ + Z_i b_i + ε,   b_i ~ N(0, σ² ΛΛᵀ),   ε ~ N(0, σ² I),   Z_i = [1, t]

Λ is lower triangular with parameters θ = (Λ11, Λ21, Λ22), as in lme4. β and σ² are profiled
out, so the optimizer searches only θ, with Λ11, Λ22 ≥ 0 (a singular covariance lies on that
boundary). With only 2×2 blocks, everything reduces to per-subject sufficient statistics
(ZᵢᵀZᵢ, ZᵢᵀXᵢ, Zᵢᵀyᵢ), so one evaluation of the criterion is a few vectorized operations
over subjects, whatever their number of visits. The criterion is lme4's REML deviance

    d(θ) = log|I + ΛᵀZᵀZΛ| + log|XᵀH⁻¹X| + (n − p)(1 + log(2π r̂ᵀH⁻¹r̂ / (n − p))),

with H = I + ZΛΛᵀZᵀ. Time is centred inside Z for conditioning; the model is invariant to
that shift because X holds the matching columns, so the fixed effects are unchanged.
Degrees of freedom for contrasts follow Satterthwaite as lmerTest computes them: the
Hessian of the deviance in (θ, σ) and the gradient of the contrast variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize, stats

# Random-effects structures, in the order fit_with_fallback tries them: which of
# θ = (Λ11, Λ21, Λ22) are estimated (the others are held at 0).
STRUCTURES = {
    "unstructured": np.array([True, True, True]),  # (years | subject)
    "uncorrelated": np.array([True, False, True]),  # (years || subject)
    "intercept": np.array([True, False, False]),  # (1 | subject)
}
BOUNDARY = 1e-6  # θ components this close to 0 are taken as on the boundary (singular fit)
GRADIENT_TOLERANCE = 2e-3  # as lme4's check on the gradient of the deviance


@dataclass(frozen=True)
class SufficientStatistics:
    """Per-subject sums (arrays over the m subjects) and the global cross-products.

    ZᵢᵀZᵢ = [[n_i, Σt], [Σt, Σt²]], ZᵢᵀXᵢ = [ΣX; ΣtX], Zᵢᵀyᵢ = [Σy, Σty].
    """

    n_i: np.ndarray  # (m,)
    sum_t: np.ndarray  # (m,)
    sum_tt: np.ndarray  # (m,)
    sum_x: np.ndarray  # (m, p)
    sum_tx: np.ndarray  # (m, p)
    sum_y: np.ndarray  # (m,)
    sum_ty: np.ndarray  # (m,)
    xtx: np.ndarray  # (p, p)
    xty: np.ndarray  # (p,)
    yty: float
    n: int
    p: int


@dataclass
class MixedFit:
    names: list[str]
    beta: np.ndarray
    theta: np.ndarray
    sigma: float
    reml_deviance: float
    converged: bool
    singular: bool
    message: str
    n_obs: int
    n_subjects: int
    stats: SufficientStatistics = field(repr=False)
    structure: str = "unstructured"
    subjects: np.ndarray | None = field(default=None, repr=False)  # ids, in the order of stats
    beta_offset: np.ndarray | None = field(default=None, repr=False)  # β taken out of y in stats
    _satterthwaite: tuple | None = field(default=None, repr=False)

    @property
    def slope_sd(self) -> float:
        """SD of the subjects' random slopes (in the outcome's units per year)."""
        return self.sigma * math.hypot(self.theta[1], self.theta[2])

    @property
    def cov_beta(self) -> np.ndarray:
        return beta_covariance(self.stats, self.theta, self.sigma)

    def contrast(self, weights, level: float = 0.95) -> dict[str, float]:
        """Estimate, SE, Satterthwaite df, CI and two-sided p-value of weights·β."""
        c = np.asarray(weights, dtype=float)
        estimate = float(c @ self.beta)
        variance = float(c @ self.cov_beta @ c)
        se = math.sqrt(variance)
        df = satterthwaite_df(self, c)
        quantile = stats.t.ppf(0.5 + level / 2, df)
        t_value = estimate / se if se > 0 else math.nan
        return {
            "estimate": estimate,
            "se": se,
            "df": df,
            "ci_low": estimate - quantile * se,
            "ci_high": estimate + quantile * se,
            "p_value": float(2 * stats.t.sf(abs(t_value), df)),
        }


def sufficient_statistics(y, X, t, subject_index) -> SufficientStatistics:
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    t = np.asarray(t, dtype=float)
    g = np.asarray(subject_index)
    m = int(g.max()) + 1

    def per_subject(values):
        return np.bincount(g, weights=values, minlength=m)

    sum_x = np.stack([per_subject(column) for column in X.T], axis=1)
    sum_tx = np.stack([per_subject(t * column) for column in X.T], axis=1)
    return SufficientStatistics(
        n_i=per_subject(np.ones_like(t)),
        sum_t=per_subject(t),
        sum_tt=per_subject(t * t),
        sum_x=sum_x,
        sum_tx=sum_tx,
        sum_y=per_subject(y),
        sum_ty=per_subject(t * y),
        xtx=X.T @ X,
        xty=X.T @ y,
        yty=float(y @ y),
        n=X.shape[0],
        p=X.shape[1],
    )


def _solve_terms(s: SufficientStatistics, theta):
    """log|I + ΛᵀZᵀZΛ|, XᵀH⁻¹X, XᵀH⁻¹y and yᵀH⁻¹y for one θ (Woodbury, per subject).

    With Λ = [[a, 0], [b, c]], Mᵢ = I + ΛᵀZᵢᵀZᵢΛ is written out element by element: every
    operation is on arrays over subjects, and the sums over subjects are matrix products.
    """
    a, b, c = theta
    m00 = 1.0 + a * a * s.n_i + 2.0 * a * b * s.sum_t + b * b * s.sum_tt
    m01 = c * (a * s.sum_t + b * s.sum_tt)
    m11 = 1.0 + c * c * s.sum_tt
    det = m00 * m11 - m01 * m01
    u0, u1 = a * s.sum_x + b * s.sum_tx, c * s.sum_tx  # ΛᵀZᵢᵀXᵢ, rows 0 and 1
    v0, v1 = a * s.sum_y + b * s.sum_ty, c * s.sum_ty  # ΛᵀZᵢᵀyᵢ
    w0 = (m11[:, None] * u0 - m01[:, None] * u1) / det[:, None]  # Mᵢ⁻¹ΛᵀZᵢᵀXᵢ
    w1 = (m00[:, None] * u1 - m01[:, None] * u0) / det[:, None]
    xhx = s.xtx - (u0.T @ w0 + u1.T @ w1)
    xhy = s.xty - (w0.T @ v0 + w1.T @ v1)
    yhy = s.yty - float(np.sum((m11 * v0 * v0 - 2.0 * m01 * v0 * v1 + m00 * v1 * v1) / det))
    return float(np.sum(np.log(det))), xhx, xhy, yhy


def _profiled(s: SufficientStatistics, theta):
    """(REML deviance, β̂, r̂ᵀH⁻¹r̂, log|XᵀH⁻¹X|) at θ."""
    logdet_m, xhx, xhy, yhy = _solve_terms(s, theta)
    factor = linalg.cho_factor(xhx)
    beta = linalg.cho_solve(factor, xhy)
    rhr = max(yhy - float(beta @ xhy), 1e-300)
    logdet_x = 2.0 * float(np.sum(np.log(np.diag(factor[0]))))
    dof = s.n - s.p
    deviance = logdet_m + logdet_x + dof * (1.0 + math.log(2.0 * math.pi * rhr / dof))
    return deviance, beta, rhr, logdet_x


def reml_deviance(s: SufficientStatistics, theta) -> float:
    try:
        return _profiled(s, theta)[0]
    except (linalg.LinAlgError, ValueError):
        return math.inf


def reml_deviance_varpar(s: SufficientStatistics, varpar) -> float:
    """The REML deviance at (θ, σ), σ not profiled out (what lmerTest differentiates)."""
    theta, sigma = varpar[:3], varpar[3]
    logdet_m, xhx, xhy, yhy = _solve_terms(s, theta)
    factor = linalg.cho_factor(xhx)
    beta = linalg.cho_solve(factor, xhy)
    rhr = yhy - float(beta @ xhy)
    logdet_x = 2.0 * float(np.sum(np.log(np.diag(factor[0]))))
    dof = s.n - s.p
    return logdet_m + logdet_x + dof * math.log(2.0 * math.pi * sigma**2) + rhr / sigma**2


def beta_covariance(s: SufficientStatistics, theta, sigma) -> np.ndarray:
    """σ² (XᵀH⁻¹X)⁻¹."""
    xhx = _solve_terms(s, theta)[1]
    return sigma**2 * linalg.inv(xhx)


def _moment_start(y, X, t, g) -> np.ndarray:
    """θ from per-subject OLS lines of the fixed-effects residuals (a cheap, sensible start)."""
    residual = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    m = int(g.max()) + 1
    n_i = np.bincount(g, minlength=m)
    t_mean = np.bincount(g, weights=t, minlength=m) / np.maximum(n_i, 1)
    r_mean = np.bincount(g, weights=residual, minlength=m) / np.maximum(n_i, 1)
    dt = t - t_mean[g]
    stt = np.bincount(g, weights=dt * dt, minlength=m)
    str_ = np.bincount(g, weights=dt * residual, minlength=m)
    usable = (n_i >= 3) & (stt > 0)
    if usable.sum() < 3:
        return np.array([1.0, 0.0, 1.0])
    slopes = str_[usable] / stt[usable]
    fitted = r_mean[g] + np.where(stt[g] > 0, str_[g] / np.where(stt[g] > 0, stt[g], 1), 0) * dt
    within = residual - fitted
    sigma2 = float(np.sum(within[usable[g]] ** 2) / max(np.sum(n_i[usable] - 2), 1))
    if sigma2 <= 0:
        return np.array([1.0, 0.0, 1.0])
    intercepts = r_mean[usable] + slopes * (0.0 - t_mean[usable])
    cov = np.cov(np.stack([intercepts, slopes]))
    cov[1, 1] = max(cov[1, 1] - sigma2 / float(np.mean(stt[usable])), 1e-4 * cov[1, 1] + 1e-12)
    cov[0, 0] = max(cov[0, 0] - sigma2 / float(np.mean(n_i[usable])), 1e-4 * cov[0, 0] + 1e-12)
    try:
        chol = np.linalg.cholesky(cov / sigma2)
    except np.linalg.LinAlgError:
        chol = np.diag(np.sqrt(np.diag(cov) / sigma2))
    return np.array([chol[0, 0], chol[1, 0], chol[1, 1]])


def _derivatives(func, x, steps, free):
    """Central-difference gradient and Hessian of ``func`` at ``x`` over the ``free`` indices."""
    index = np.flatnonzero(free)
    f0 = func(x)
    k = index.size
    gradient = np.zeros(k)
    hessian = np.zeros((k, k))

    def at(*moves):
        y = x.copy()
        for i, h in moves:
            y[i] += h
        return func(y)

    for a, i in enumerate(index):
        h = steps[i]
        up, down = at((i, h)), at((i, -h))
        gradient[a] = (up - down) / (2 * h)
        hessian[a, a] = (up - 2 * f0 + down) / h**2
        for b, j in enumerate(index[:a]):
            hj = steps[j]
            hessian[a, b] = hessian[b, a] = (
                at((i, h), (j, hj)) - at((i, h), (j, -hj)) - at((i, -h), (j, hj)) + at((i, -h), (j, -hj))
            ) / (4 * h * hj)
    return gradient, hessian


def _free(theta, estimated=STRUCTURES["unstructured"]) -> np.ndarray:
    """Which θ components move: the estimated ones, except Λ11 or Λ22 stuck on the boundary 0."""
    return estimated & np.array([theta[0] >= BOUNDARY, True, theta[2] >= BOUNDARY])


def _scaled_gradient(s, theta, estimated=STRUCTURES["unstructured"]):
    """lme4's convergence measure: the gradient scaled by the Cholesky factor of the Hessian.

    Its squared norm is twice the deviance a Newton step would still gain.
    """
    free = _free(theta, estimated)
    steps = 1e-3 * _natural_scale(theta)
    gradient, hessian = _derivatives(lambda th: reml_deviance(s, th), theta, steps, free)
    if gradient.size == 0:
        return gradient
    try:
        return linalg.solve_triangular(linalg.cholesky(hessian, lower=True), gradient, lower=True)
    except (linalg.LinAlgError, ValueError):
        return np.full(gradient.shape, np.inf)


def fit(y, X, t, subject_index, names, structure: str = "unstructured") -> MixedFit:
    """Fit the model by REML; the result says whether the optimum passed the convergence checks."""
    estimated = STRUCTURES[structure]
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    t = np.asarray(t, dtype=float)
    subjects, g = np.unique(np.asarray(subject_index), return_inverse=True)
    g = g.ravel()
    # Conditioning, neither of which changes the REML optimum: time is centred (the random
    # effects model is invariant to the shift) and y is replaced by its OLS residual (β absorbs
    # Xβ₀), so sums of squares stay small and finite differences of the deviance are clean.
    # (For the uncorrelated and intercept-only structures the shift matters: time is not centred.)
    t_model = t - t.mean() if structure == "unstructured" else t
    beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    s = sufficient_statistics(y - X @ beta_ols, X, t_model, g)
    moment = _moment_start(y, X, t_model, g)
    slope_sd = max(math.hypot(moment[1], moment[2]), 1e-3)
    # The deviance is even in Λ22 (and in Λ11), so Λ22 = 0 is always stationary: a search can
    # stall there although the optimum is inside. Starting from several points, one of them
    # well inside, and keeping the best makes that failure unlikely.
    starts = [
        moment,
        np.array([1.0, 0.0, 1.0]),
        np.array([max(moment[0], 1e-2), 0.0, slope_sd]),
    ]
    best = None
    for start in starts:
        theta = _optimize_from(s, np.where(estimated, start, 0.0), estimated)
        deviance = reml_deviance(s, theta)
        if best is None or deviance < best[0]:
            best = (deviance, theta)
    theta = best[1]
    scaled_gradient = _scaled_gradient(s, theta, estimated)
    converged = bool(
        math.isfinite(best[0])
        and (scaled_gradient.size == 0 or np.max(np.abs(scaled_gradient)) < GRADIENT_TOLERANCE)
    )
    deviance, beta, rhr, _ = _profiled(s, theta)
    sigma = math.sqrt(rhr / (s.n - s.p))
    on_boundary = [i for i in (0, 2) if estimated[i] and theta[i] < BOUNDARY]
    return MixedFit(
        names=list(names),
        beta=beta + beta_ols,
        theta=theta,
        sigma=sigma,
        reml_deviance=deviance,
        converged=converged,
        singular=bool(on_boundary),
        message="ok" if converged else f"scaled gradient {np.array2string(scaled_gradient, precision=4)}",
        n_obs=s.n,
        n_subjects=int(g.max()) + 1,
        stats=s,
        structure=structure,
        subjects=subjects,
        beta_offset=beta_ols,
    )


def conditional_modes(fit_: MixedFit) -> tuple[np.ndarray, np.ndarray]:
    """Each subject's predicted random effects (BLUPs, intercept and slope deviation) and their
    conditional covariance, as lme4's ``ranef(m, condVar = TRUE)``, in ``fit_.subjects`` order.

    With Mᵢ = I + ΛᵀZᵢᵀZᵢΛ: b̂ᵢ = Λ Mᵢ⁻¹ ΛᵀZᵢᵀ(yᵢ − Xᵢβ̂) and Var(bᵢ | y) = σ² Λ Mᵢ⁻¹ Λᵀ, at the
    estimated θ, σ and β (the fixed effects' own uncertainty is not in it). The slope deviation
    does not depend on where time is centred.
    """
    s, (a, b, c) = fit_.stats, fit_.theta
    shift = fit_.beta - fit_.beta_offset  # stats hold y minus X·beta_offset
    r0 = s.sum_y - s.sum_x @ shift  # Σ rᵢ
    r1 = s.sum_ty - s.sum_tx @ shift  # Σ tᵢ rᵢ
    lam = np.array([[a, 0.0], [b, c]])
    ztz = np.stack([np.stack([s.n_i, s.sum_t], -1), np.stack([s.sum_t, s.sum_tt], -1)], -2)  # (m, 2, 2)
    m = np.eye(2) + lam.T @ ztz @ lam
    m_inv = np.linalg.inv(m)
    ztr = np.stack([r0, r1], -1)  # (m, 2)
    modes = np.einsum("ij,mjk,lk,ml->mi", lam, m_inv, lam, ztr)
    covariance = fit_.sigma**2 * (lam @ m_inv @ lam.T)
    return modes, covariance


def fit_with_fallback(y, X, t, subject_index, names) -> MixedFit:
    """The unstructured model; when its fit is singular or does not converge, the uncorrelated
    one (years || subject); then random intercept only (1 | subject). The first regular,
    converged fit is returned; if none is, the last one, marked not converged."""
    for structure in STRUCTURES:
        result = fit(y, X, t, subject_index, names, structure)
        if result.converged and not result.singular:
            return result
    return result


def _natural_scale(theta) -> np.ndarray:
    """Units for θ: the intercept SD for Λ11, the slope SD for Λ21 and Λ22 (relative to σ)."""
    slope_sd = max(math.hypot(theta[1], theta[2]), 1e-3)
    return np.array([max(theta[0], 1e-3), slope_sd, slope_sd])


def _optimize_from(s: SufficientStatistics, start, estimated) -> np.ndarray:
    """L-BFGS-B from ``start`` over the estimated θ, in units of the start's SDs so all move alike."""
    scale = _natural_scale(start)
    index = np.flatnonzero(estimated)
    bounds = [(0, None), (None, None), (0, None)]

    def full(phi):
        theta = np.zeros(3)
        theta[index] = phi * scale[index]
        return theta

    result = optimize.minimize(
        lambda phi: reml_deviance(s, full(phi)),
        start[index] / scale[index],
        method="L-BFGS-B",
        bounds=[bounds[i] for i in index],
        options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 1000},
    )
    return _newton_polish(s, full(result.x), estimated)


def _newton_polish(s, theta, estimated, iterations: int = 4):
    """A few Newton steps on the free θ components: the last digits L-BFGS-B leaves behind."""
    theta = np.array(theta, dtype=float)
    theta[[0, 2]] = np.maximum(theta[[0, 2]], 0.0)
    current = reml_deviance(s, theta)
    for _ in range(iterations):
        free = _free(theta, estimated)
        if not free.any():
            break
        steps = 1e-3 * _natural_scale(theta)
        gradient, hessian = _derivatives(lambda th: reml_deviance(s, th), theta, steps, free)
        try:
            step = linalg.solve(hessian, gradient, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            break
        candidate = theta.copy()
        candidate[free] -= step
        candidate[[0, 2]] = np.maximum(candidate[[0, 2]], 0.0)
        value = reml_deviance(s, candidate)
        if not value < current:
            break
        theta, current = candidate, value
    return theta


def _satterthwaite_parts(fit_: MixedFit):
    """Covariance of the variance parameters (2·H⁻¹ of the deviance in (θ, σ)) and the
    derivatives of Cov(β̂) along each free parameter; computed once per fit, by finite
    differences. Parameters on the boundary (a singular fit) are held fixed."""
    if fit_._satterthwaite is None:
        s = fit_.stats
        varpar = np.append(fit_.theta, fit_.sigma)
        free = np.append(_free(fit_.theta, STRUCTURES[fit_.structure]), True)
        steps = 1e-3 * np.append(_natural_scale(fit_.theta), fit_.sigma)
        _, hessian = _derivatives(lambda x: reml_deviance_varpar(s, x), varpar, steps, free)
        derivatives = []
        for i in np.flatnonzero(free):
            up, down = varpar.copy(), varpar.copy()
            up[i] += steps[i]
            down[i] -= steps[i]
            derivatives.append(
                (beta_covariance(s, up[:3], up[3]) - beta_covariance(s, down[:3], down[3])) / (2 * steps[i])
            )
        try:
            varpar_cov = 2.0 * linalg.inv(hessian)
        except linalg.LinAlgError:
            varpar_cov = None
        fit_._satterthwaite = (varpar_cov, np.array(derivatives))
    return fit_._satterthwaite


def satterthwaite_df(fit_: MixedFit, contrast) -> float:
    """Satterthwaite degrees of freedom of contrast·β, as lmerTest computes them:
    df = 2·V² / (gᵀ A g), V = cᵀCov(β̂)c, g its gradient in (θ, σ), A their covariance."""
    varpar_cov, derivatives = _satterthwaite_parts(fit_)
    if varpar_cov is None:
        return math.nan
    c = np.asarray(contrast, dtype=float)
    gradient = np.einsum("i,kij,j->k", c, derivatives, c)
    denominator = float(gradient @ varpar_cov @ gradient)
    if not denominator > 0:
        return math.nan
    return 2.0 * float(c @ fit_.cov_beta @ c) ** 2 / denominator
