# Reference numbers for mscsim's meta-analysis engine, computed with R's metafor.
#
# Usage (from anywhere):
#   Rscript tests/r/metafor_reference.R [OUTPUT.json]
# Default output: tests/r/metafor_reference.json next to this script.
#
# Inputs: metafor's dat.bcg (package metadat), a small hand-made dataset with zero and
# double-zero cells (defined below), and our own mortality comparisons exported by
# tests/r/export_own_dataset.py to tests/r/own_mortality.csv (skipped if absent).
#
# All iterative procedures run with tight convergence settings (Fisher scoring
# threshold 1e-14 with half steps, uniroot tol 1e-15) so that the numbers are exact to ~1e-10 and
# can be compared with a tolerance of 1e-6. Requires: r-cran-metafor, r-cran-jsonlite.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args_all <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args_all[grep("^--file=", args_all)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else "tests/r"
args <- commandArgs(trailingOnly = TRUE)
out_path <- if (length(args) >= 1) args[1] else file.path(here, "metafor_reference.json")
own_path <- file.path(here, "own_mortality.csv")

# stepadj = 0.5: half Fisher-scoring steps, metafor's documented remedy when the full
# steps oscillate (they do for some subsets of our own data); where both converge they
# converge to the same maximum
ctrl <- list(threshold = 1e-14, tol = 1e-15, maxiter = 1000, stepadj = 0.5)
ci_ctrl <- list(tol = 1e-15, maxiter = 10000)
methods <- c("EE", "DL", "REML", "ML", "PM", "HE", "SJ")
measures <- c("RR", "OR", "RD")

num <- function(x) {
  x <- as.numeric(x)
  x[!is.finite(x)] <- NA
  x
}

fit_summary <- function(res) {
  out <- list(k = res$k, estimate = num(coef(res)[1]), se = num(res$se[1]),
              zval = num(res$zval[1]), pval = num(res$pval[1]),
              ci_lb = num(res$ci.lb[1]), ci_ub = num(res$ci.ub[1]),
              tau2 = num(res$tau2), QE = num(res$QE), QEp = num(res$QEp),
              I2 = num(res$I2), H2 = num(res$H2))
  if (inherits(res, "rma.uni")) {
    pr <- predict(res)
    if (!is.null(pr$pi.lb)) {  # metafor gives no PI for fixed-effect models
      out$pi_lb <- num(pr$pi.lb)
      out$pi_ub <- num(pr$pi.ub)
    }
    out$se_tau2 <- num(res$se.tau2)
    out$ddf <- num(res$ddf)
    if (!(res$method %in% c("FE", "EE", "CE")) && res$k >= 2) {
      ci <- confint(res, control = ci_ctrl)
      out$tau2_lb <- num(ci$random["tau^2", "ci.lb"])
      out$tau2_ub <- num(ci$random["tau^2", "ci.ub"])
      out$I2_lb <- num(ci$random["I^2(%)", "ci.lb"])
      out$I2_ub <- num(ci$random["I^2(%)", "ci.ub"])
      out$H2_lb <- num(ci$random["H^2", "ci.lb"])
      out$H2_ub <- num(ci$random["H^2", "ci.ub"])
    }
    out$weights <- num(weights(res))
  }
  out
}

table_list <- function(x, cols) {
  res <- list()
  for (cl in cols) {
    val <- x[[cl]]
    if (is.null(val) && cl == "zval") val <- x[["tval"]]  # knha: t statistics
    if (is.null(val) && cl == "pval") val <- x[["pvals"]]  # cumul() calls them pvals
    res[[cl]] <- num(val)
  }
  res
}

# a standard battery of analyses on a data frame with study_id, ai, n1, ci, n2
battery <- function(dat, order_var = NULL, group_var = NULL, mod_var = NULL) {
  dat$bi <- dat$n1 - dat$ai
  dat$di <- dat$n2 - dat$ci
  out <- list()
  out$data <- as.list(dat[, intersect(c("study_id", "ai", "n1", "ci", "n2", order_var,
                                        group_var, mod_var), names(dat))])

  # effect sizes with metafor's defaults (add = 1/2, to = "only0", drop00 = FALSE)
  out$escalc <- list()
  for (m in c(measures, "PETO")) {
    es <- escalc(m, ai = ai, bi = bi, ci = ci, di = di, data = dat)
    out$escalc[[m]] <- list(yi = num(es$yi), vi = num(es$vi))
  }

  # inverse-variance models: every measure x method x test
  out$rma <- list()
  for (m in measures) {
    es <- escalc(m, ai = ai, bi = bi, ci = ci, di = di, data = dat)
    for (meth in methods) {
      for (tst in c("z", "knha")) {
        res <- rma(yi, vi, data = es, method = meth, test = tst, control = ctrl)
        s <- fit_summary(res)
        s$measure <- m
        s$method <- meth
        s$test <- tst
        out$rma[[length(out$rma) + 1]] <- s
      }
    }
  }

  # Mantel-Haenszel and Peto (defaults)
  out$mh <- list()
  for (m in measures) {
    res <- rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = dat, measure = m)
    s <- fit_summary(res)
    s$measure <- m
    s$k_yi <- res$k.yi
    s$weights <- num(weights(res))
    if (m == "OR") {
      s$MH <- num(res$MH)
      s$MHp <- num(res$MHp)
      s$BD <- num(res$BD)
      s$TA <- num(res$TA)
      s$TAp <- num(res$TAp)
    }
    out$mh[[m]] <- s
  }
  res <- rma.peto(ai = ai, bi = bi, ci = ci, di = di, data = dat)
  out$peto <- fit_summary(res)
  out$peto$weights <- num(weights(res))
  out$peto$k_yi <- res$k.yi

  # diagnostics on the default random-effects model (RR, REML) and a knha variant
  es <- escalc("RR", ai = ai, bi = bi, ci = ci, di = di, data = dat)
  diag <- list()
  for (cfg in list(list(method = "REML", test = "z"), list(method = "DL", test = "knha"))) {
    res <- rma(yi, vi, data = es, method = cfg$method, test = cfg$test, control = ctrl)
    key <- paste(cfg$method, cfg$test, sep = "_")
    d <- list()
    l1 <- leave1out(res)
    d$leave1out <- table_list(l1, c("estimate", "se", "zval", "pval", "ci.lb", "ci.ub",
                                    "Q", "Qp", "tau2", "I2", "H2"))
    if (!is.null(order_var)) {
      cu <- cumul(res, order = es[[order_var]])
      d$cumul <- table_list(cu, c("estimate", "se", "zval", "pval", "ci.lb", "ci.ub",
                                  "Q", "Qp", "tau2", "I2", "H2"))
      d$cumul$order <- order(es[[order_var]])
    }
    inf <- influence(res)
    d$influence <- table_list(inf$inf, c("rstudent", "dffits", "cook.d", "cov.r",
                                         "tau2.del", "QE.del", "hat", "weight"))
    d$influence$dfbs <- num(inf$dfbs$intrcpt)
    d$influence$is_infl <- as.logical(inf$is.infl)
    rt <- regtest(res)
    d$regtest_rma <- list(zval = num(rt$zval), pval = num(rt$pval), ddf = num(rt$ddf),
                          est = num(rt$est), ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub))
    rk <- suppressWarnings(ranktest(res))  # ties: cor.test warns and approximates
    d$ranktest <- list(tau = num(rk$tau), pval = num(rk$pval))
    rl <- regtest(res, model = "lm")
    d$regtest_lm <- list(zval = num(rl$zval), pval = num(rl$pval), ddf = num(rl$ddf),
                         est = num(rl$est), ci_lb = num(rl$ci.lb), ci_ub = num(rl$ci.ub))
    if (cfg$test == "z") {
      tf <- trimfill(res, control = ctrl)
      d$trimfill <- list(k0 = tf$k0, se_k0 = num(tf$se.k0), side = tf$side,
                         estimate = num(coef(tf)[1]), se = num(tf$se), tau2 = num(tf$tau2),
                         ci_lb = num(tf$ci.lb), ci_ub = num(tf$ci.ub), QE = num(tf$QE),
                         yi = num(tf$yi), vi = num(tf$vi))
      for (sd in c("left", "right")) {
        tf <- trimfill(res, side = sd, control = ctrl)
        d[[paste0("trimfill_", sd)]] <- list(k0 = tf$k0, se_k0 = num(tf$se.k0),
                                             estimate = num(coef(tf)[1]),
                                             tau2 = num(tf$tau2))
      }
      tf <- trimfill(res, estimator = "R0", control = ctrl)
      d$trimfill_R0 <- list(k0 = tf$k0, se_k0 = num(tf$se.k0), side = tf$side,
                            estimate = num(coef(tf)[1]), tau2 = num(tf$tau2))
    }
    diag[[key]] <- d
  }
  out$diagnostics <- diag

  # cumulative Mantel-Haenszel (RR)
  if (!is.null(order_var)) {
    res <- rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = dat, measure = "RR")
    cu <- cumul(res, order = dat[[order_var]])
    out$cumul_mh_rr <- table_list(cu, c("estimate", "se", "ci.lb", "ci.ub", "Q", "I2"))
  }

  # subgroups: separate REML fits, Q-between (FE model on the subgroup estimates) and
  # the mixed-effects moderator test with a common tau^2
  if (!is.null(group_var)) {
    g <- as.character(dat[[group_var]])
    sg <- list(fits = list())
    est <- c()
    sei <- c()
    for (lv in unique(g)) {
      for (tst in c("z", "knha")) {
        res <- rma(yi, vi, data = es, subset = (g == lv), method = "REML", test = tst,
                   control = ctrl)
        sg$fits[[paste(lv, tst, sep = "|")]] <- fit_summary(res)
        if (tst == "z") {
          est <- c(est, coef(res)[1])
          sei <- c(sei, res$se)
        }
      }
    }
    lv <- unique(g)
    qb <- rma(est, sei = sei, mods = ~ factor(lv), method = "EE")
    sg$q_between <- num(qb$QM)
    sg$q_between_df <- length(lv) - 1
    sg$q_between_p <- num(qb$QMp)
    me <- rma(yi, vi, data = es, mods = ~ factor(g), method = "REML", control = ctrl)
    sg$qm <- num(me$QM)
    sg$qmp <- num(me$QMp)
    sg$tau2_common <- num(me$tau2)
    sg$variable <- group_var
    out$subgroup <- sg
  }

  # meta-regression on a continuous moderator
  if (!is.null(mod_var)) {
    mr <- list()
    for (cfg in list(list(method = "REML", test = "z"), list(method = "REML", test = "knha"),
                     list(method = "DL", test = "z"), list(method = "ML", test = "z"),
                     list(method = "EE", test = "z"))) {
      res <- suppressWarnings(rma(yi, vi, data = es, mods = es[[mod_var]],
                                  method = cfg$method, test = cfg$test, control = ctrl))
      mr[[paste(cfg$method, cfg$test, sep = "_")]] <- list(
        k = res$k, b = num(coef(res)), se = num(res$se), zval = num(res$zval),
        pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
        tau2 = num(res$tau2), se_tau2 = num(res$se.tau2), QE = num(res$QE),
        QEp = num(res$QEp), QM = num(res$QM), QMp = num(res$QMp), I2 = num(res$I2),
        H2 = num(res$H2), R2 = if (is.null(res$R2)) NA else num(res$R2))
    }
    mr$variable <- mod_var
    out$metareg <- mr
  }
  out
}

ref <- list(
  meta = list(metafor = as.character(packageVersion("metafor")),
              R = R.version.string,
              control = list(rma = ctrl, confint = ci_ctrl))
)

# ---- dat.bcg --------------------------------------------------------------------------
bcg <- data.frame(study_id = paste0(dat.bcg$author, " ", dat.bcg$year),
                  ai = dat.bcg$tpos, n1 = dat.bcg$tpos + dat.bcg$tneg,
                  ci = dat.bcg$cpos, n2 = dat.bcg$cpos + dat.bcg$cneg,
                  year = dat.bcg$year, alloc = as.character(dat.bcg$alloc),
                  ablat = dat.bcg$ablat, stringsAsFactors = FALSE)
ref$bcg <- battery(bcg, order_var = "year", group_var = "alloc", mod_var = "ablat")

# ---- zero cells (hand-made) -----------------------------------------------------------
zero <- data.frame(
  study_id = c("single0_trt", "double0_events", "plain_a", "plain_b", "single0_ctl",
               "plain_c", "all_events_trt", "double0_nonevents"),
  ai = c(0, 0, 5, 2, 1, 12, 10, 8),
  n1 = c(20, 15, 30, 25, 40, 50, 10, 8),
  ci = c(3, 0, 9, 6, 0, 18, 10, 9),
  n2 = c(20, 15, 30, 24, 38, 52, 12, 9),
  stringsAsFactors = FALSE)
zero$bi <- zero$n1 - zero$ai
zero$di <- zero$n2 - zero$ci
zr <- list(data = as.list(zero[, c("study_id", "ai", "n1", "ci", "n2")]), escalc = list())
for (m in c(measures, "PETO")) {
  for (to in c("only0", "all", "if0all", "none")) {
    for (d00 in c(FALSE, TRUE)) {
      for (add in c(0.5, 0.25)) {
        es <- suppressWarnings(escalc(m, ai = ai, bi = bi, ci = ci, di = di, data = zero,
                                      add = add, to = to, drop00 = d00))
        zr$escalc[[length(zr$escalc) + 1]] <- list(measure = m, to = to, drop00 = d00,
                                                   add = add, yi = num(es$yi),
                                                   vi = num(es$vi))
      }
    }
  }
}
# treatment-arm continuity correction (Sweeting et al. 2004): arm increments
# 2*add*n_arm/(n1+n2) in studies with a zero cell; computed here with the plain formula
# as an independent check of the arithmetic (metafor has no such option)
has0 <- with(zero, ai == 0 | bi == 0 | ci == 0 | di == 0)
k1 <- ifelse(has0, zero$n1 / (zero$n1 + zero$n2), 0)
k2 <- ifelse(has0, zero$n2 / (zero$n1 + zero$n2), 0)
zr$tacc <- list()
for (m in c(measures, "PETO")) {
  es <- suppressWarnings(escalc(m, ai = ai + k1, bi = bi + k1, ci = ci + k2, di = di + k2,
                                data = zero, add = 0, to = "none"))
  zr$tacc[[m]] <- list(yi = num(es$yi), vi = num(es$vi))
}
zr$rma <- list()
for (m in measures) {
  for (d00 in c(FALSE, TRUE)) {
    es <- escalc(m, ai = ai, bi = bi, ci = ci, di = di, data = zero, drop00 = d00)
    res <- rma(yi, vi, data = es, method = "REML", control = ctrl)
    s <- fit_summary(res)
    s$measure <- m
    s$drop00 <- d00
    zr$rma[[length(zr$rma) + 1]] <- s
  }
}
zr$mh <- list()
for (m in measures) {
  res <- rma.mh(ai = ai, bi = bi, ci = ci, di = di, data = zero, measure = m)
  s <- fit_summary(res)
  s$k_yi <- res$k.yi
  s$weights <- num(weights(res))
  zr$mh[[m]] <- s
}
res <- rma.peto(ai = ai, bi = bi, ci = ci, di = di, data = zero)
zr$peto <- fit_summary(res)
zr$peto$k_yi <- res$k.yi
zr$peto$weights <- num(weights(res))
ref$zero <- zr

# ---- Fisher scoring that oscillates with full steps (fixed data) ----------------------
osc <- data.frame(ai = c(0, 0, 0, 0, 2, 2, 0, 10), n1 = c(9, 7, 12, 29, 12, 26, 65, 20),
                  ci = c(0, 1, 3, 2, 7, 6, 0, 16), n2 = c(9, 3, 29, 29, 12, 18, 35, 20))
es <- escalc("RR", ai = ai, n1i = n1, ci = ci, n2i = n2, data = osc)
full_steps <- try(rma(yi, vi, data = es, control = list(threshold = 1e-12, maxiter = 1000)),
                  silent = TRUE)
res <- rma(yi, vi, data = es, control = ctrl)
ref$oscillation <- c(list(data = as.list(osc), full_steps_converged = !inherits(full_steps,
                                                                                "try-error")),
                     fit_summary(res))

# ---- our own dataset --------------------------------------------------------------------
if (file.exists(own_path)) {
  own <- read.csv(own_path, stringsAsFactors = FALSE)
  own$study_id <- as.character(own$study_id)
  ordv <- if ("pub_date" %in% names(own)) "pub_date" else NULL
  grpv <- if ("design" %in% names(own) && length(unique(own$design)) >= 2) "design" else NULL
  modv <- NULL
  if ("dose_cells_per_kg" %in% names(own)) {
    own$dose_million_per_kg <- own$dose_cells_per_kg / 1e6
    if (sum(is.finite(own$dose_million_per_kg)) >= 4 &&
        length(unique(na.omit(own$dose_million_per_kg))) >= 2) modv <- "dose_million_per_kg"
  }
  ref$own <- battery(own, order_var = ordv, group_var = grpv, mod_var = modv)
  ref$own$source <- "tests/r/own_mortality.csv"
}

# ---- rank test with tied standardised effects and variances (normal approximation) -------
ties_yi <- c(0.1, 0.3, 0.3, 0.5, -0.2, 0.8, 0.3)
ties_vi <- c(0.04, 0.04, 0.04, 0.1, 0.2, 0.3, 0.09)
rk_ties <- suppressWarnings(ranktest(ties_yi, ties_vi))
ref$ranktest_ties <- list(yi = ties_yi, vi = ties_vi, tau = num(rk_ties$tau),
                          pval = num(rk_ties$pval))

write_json(ref, out_path, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
cat("wrote", out_path, "\n")
