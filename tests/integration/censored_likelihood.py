"""An independent lognormal maximum likelihood with right censoring (scipy), for the tests to check
the library's censored fits against: not the library's code."""

import numpy as np
from scipy import optimize, stats


def censored_mle(X, time, observed):
    y = np.log(time)

    def nll(theta):
        s = np.exp(theta[-1])
        z = (y - X @ theta[:-1]) / s
        return -(np.sum(stats.norm.logpdf(z[observed]) - theta[-1]) + np.sum(stats.norm.logsf(z[~observed])))

    start = np.append(np.linalg.lstsq(X[observed], y[observed], rcond=None)[0], np.log(0.2))
    res = optimize.minimize(nll, start, method="BFGS", options={"gtol": 1e-9})
    k, h = len(res.x), 1e-4
    e = np.eye(k) * h
    H = np.array([[(nll(res.x + e[i] + e[j]) - nll(res.x + e[i] - e[j]) - nll(res.x - e[i] + e[j])
                    + nll(res.x - e[i] - e[j])) / (4 * h * h) for j in range(k)] for i in range(k)])
    return res.x[:-1], np.sqrt(np.diag(np.linalg.inv(H)))[:-1]
