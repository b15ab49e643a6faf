# Reference numbers for mscsim.trial's statistics, computed with R.
#
# Usage (from anywhere):
#   Rscript tests/r/trial_stats_reference.R [OUTPUT_DIR]
# Default OUTPUT_DIR: the folder of this script (tests/r/). Writes there:
#   trial_stats_binary.csv, trial_stats_survival.csv, trial_stats_ordinal.csv,
#   trial_stats_continuous.csv, trial_stats_competing*.csv, trial_stats_worst_rank.csv
#                                -- the small datasets, generated deterministically below
#   trial_stats_reference.json   -- R's results on them
#
# References: stats::fisher.test, wilcox.test, lm; metafor::escalc (Wald effect sizes with
# metafor's zero-cell rule); survival::survfit, survdiff, coxph; MASS::polr.
# Iterative fits run with tight convergence settings (coxph eps 1e-12; polr/optim reltol
# 1e-15 with a finite-difference step of 1e-6 for the Hessian) so that the numbers can be
# compared with tolerances of 1e-6 or tighter. fisher.test's conditional MLE and limits use
# R's own uniroot tolerance (about 1e-4) and are compared loosely.
# Requires: r-cran-survival, r-cran-mass, r-cran-metafor, r-cran-jsonlite.

suppressPackageStartupMessages({
  library(survival)
  library(MASS)
  library(metafor)
  library(jsonlite)
})

args_all <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args_all[grep("^--file=", args_all)])
here <- if (length(script) == 1) dirname(normalizePath(script)) else "tests/r"
args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args) >= 1) args[1] else here
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

num <- function(x) {
  x <- as.numeric(x)
  x[is.nan(x)] <- NA
  x
}

write_data <- function(df, name) {
  write.csv(df, file.path(out_dir, name), row.names = FALSE, quote = FALSE)
}

# ------------------------------------------------------------------ datasets
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20240501)

binary <- data.frame(
  table = c("moderate", "small", "zero_treated", "double_zero", "all_treated", "null",
            "tiny", "large", "all_both", "extreme"),
  events_treated = c(12, 3, 0, 0, 10, 45, 1, 30, 5, 0),
  n_treated = c(50, 10, 15, 20, 10, 100, 3, 120, 5, 8),
  events_control = c(20, 8, 5, 0, 7, 45, 2, 52, 6, 8),
  n_control = c(50, 12, 14, 20, 10, 100, 2, 118, 6, 8))
n_rand <- 10
rand_n1 <- sample(5:150, n_rand, replace = TRUE)
rand_n0 <- sample(5:150, n_rand, replace = TRUE)
binary <- rbind(binary, data.frame(
  table = sprintf("random_%02d", seq_len(n_rand)),
  events_treated = rbinom(n_rand, rand_n1, 0.25), n_treated = rand_n1,
  events_control = rbinom(n_rand, rand_n0, 0.35), n_control = rand_n0))

make_daily <- function(n, rate0, rate1, follow_up) {
  arm <- rep(0:1, each = n / 2)
  t_event <- ceiling(rexp(n, ifelse(arm == 1, rate1, rate0)))
  t_cens <- ifelse(runif(n) < 0.15, sample(1:(follow_up - 1), n, TRUE), follow_up)
  time <- pmin(t_event, t_cens)
  data.frame(time = time, event = as.integer(t_event <= t_cens), arm = arm)
}
ties <- make_daily(80, 0.045, 0.025, 28)
cont_arm <- rep(0:1, each = 20)
cont_event_t <- round(rexp(40, ifelse(cont_arm == 1, 0.03, 0.06)), 3)
cont_cens_t <- round(runif(40, 5, 40), 3)
continuous_surv <- data.frame(time = pmin(cont_event_t, cont_cens_t),
                              event = as.integer(cont_event_t <= cont_cens_t),
                              arm = cont_arm)
zero_arm <- rep(0:1, 15)
zero_t <- ceiling(rexp(30, 0.06))
zero_treated <- data.frame(
  time = ifelse(zero_arm == 1, ifelse(runif(30) < 0.2, sample(5:27, 30, TRUE), 28),
                pmin(zero_t, 28)),
  event = as.integer(zero_arm == 0 & zero_t <= 28), arm = zero_arm)
small <- data.frame(time = c(1, 2, 3, 4, 2, 5, 6, 6),
                    event = c(1, 1, 1, 1, 0, 1, 1, 0),
                    arm = c(0, 0, 0, 0, 1, 1, 1, 1))
survival_data <- rbind(cbind(dataset = "ties", ties),
                       cbind(dataset = "continuous", continuous_surv),
                       cbind(dataset = "zero_treated", zero_treated),
                       cbind(dataset = "small", small))

who_arm <- rep(0:1, 60)
who_age <- round(rnorm(120, 60, 12))
latent <- -0.7 * who_arm + 0.04 * (who_age - 60) + rlogis(120)
who <- as.numeric(as.character(cut(latent, c(-Inf, -1.5, -0.5, 0.5, 1.2, 2, 2.8, Inf),
                                   labels = c(3, 4, 6, 7, 8, 9, 10))))
ordinal <- rbind(
  data.frame(dataset = "who", who = who, arm = who_arm, age = who_age),
  data.frame(dataset = "small", who = c(0, 0, 1, 1, 2, 4, 4, 5, 0, 1, 2, 5, 5, 4),
             arm = rep(0:1, each = 7),
             age = c(50, 61, 72, 58, 66, 70, 49, 55, 63, 68, 71, 59, 62, 75)))

vfd_arm <- rep(0:1, 30)
vfd_base <- round(rnorm(60, 8, 2))
vfd <- pmax(0, round(rnorm(60, 10 + 3 * vfd_arm - 0.5 * (vfd_base - 8), 6)))
nt_arm <- rep(0:1, each = 15)
nt_base <- round(rnorm(30, 300, 60), 2)
nt_out <- round(nt_base * 0.6 + 130 + 25 * nt_arm + rnorm(30, 0, 40), 2)
continuous <- rbind(
  data.frame(dataset = "vfd", outcome = vfd, baseline = vfd_base, arm = vfd_arm,
             age = round(rnorm(60, 62, 10))),
  data.frame(dataset = "pf_ratio", outcome = nt_out, baseline = nt_base, arm = nt_arm,
             age = round(rnorm(30, 62, 10))))

# competing risks (improvement vs death), administrative censoring at day 28 only, as in a
# virtual trial; status 1 = improved, 2 = died, 0 = alive and not improved at day 28
cr_arm <- rep(0:1, each = 40)
cr_improve <- ceiling(rexp(80, ifelse(cr_arm == 1, 0.08, 0.05)))
cr_death <- ceiling(rexp(80, 0.025))
cr_status <- ifelse(cr_improve < cr_death & cr_improve <= 28, 1L,
                    ifelse(cr_death <= 28, 2L, 0L))
competing <- data.frame(time = pmin(cr_improve, cr_death, 28), status = cr_status,
                        arm = cr_arm)
# the same with random censoring (loss to follow-up) for the Aalen-Johansen estimator
cr_cens <- ifelse(runif(80) < 0.2, sample(1:27, 80, TRUE), 99)
competing_censored <- data.frame(time = pmin(competing$time, cr_cens),
                                 status = ifelse(cr_cens < competing$time, 0L,
                                                 competing$status), arm = cr_arm)

write_data(binary, "trial_stats_binary.csv")
write_data(survival_data, "trial_stats_survival.csv")
write_data(ordinal, "trial_stats_ordinal.csv")
write_data(continuous, "trial_stats_continuous.csv")
write_data(competing, "trial_stats_competing.csv")
write_data(competing_censored, "trial_stats_competing_censored.csv")

# read back so that R analyses exactly what the CSVs hold
binary <- read.csv(file.path(out_dir, "trial_stats_binary.csv"))
survival_data <- read.csv(file.path(out_dir, "trial_stats_survival.csv"))
ordinal <- read.csv(file.path(out_dir, "trial_stats_ordinal.csv"))
continuous <- read.csv(file.path(out_dir, "trial_stats_continuous.csv"))
competing <- read.csv(file.path(out_dir, "trial_stats_competing.csv"))
competing_censored <- read.csv(file.path(out_dir, "trial_stats_competing_censored.csv"))

# ------------------------------------------------------------------ binary
wald <- function(measure, to) {
  escalc(measure, ai = events_treated, n1i = n_treated, ci = events_control,
         n2i = n_control, data = binary, add = 1 / 2, to = to)
}
z975 <- qnorm(0.975)
binary_out <- list(table = binary$table)
for (measure in c("RR", "OR", "RD")) {
  corrected <- wald(measure, "only0")
  raw <- wald(measure, "none")
  yi <- if (measure == "RD") raw$yi else corrected$yi
  se <- sqrt(corrected$vi)
  back <- if (measure == "RD") identity else exp
  binary_out[[measure]] <- list(
    estimate = num(back(yi)), se = num(se), ci_low = num(back(yi - z975 * se)),
    ci_high = num(back(yi + z975 * se)), p_value = num(2 * pnorm(-abs(yi / se))))
}
fisher <- lapply(seq_len(nrow(binary)), function(i) {
  b <- binary[i, ]
  m <- matrix(c(b$events_treated, b$events_control, b$n_treated - b$events_treated,
                b$n_control - b$events_control), 2)
  fisher.test(m)
})
binary_out$fisher <- list(
  p_value = num(sapply(fisher, `[[`, "p.value")),
  estimate = num(sapply(fisher, function(f) unname(f$estimate))),
  ci_low = num(sapply(fisher, function(f) f$conf.int[1])),
  ci_high = num(sapply(fisher, function(f) f$conf.int[2])))

# ------------------------------------------------------------------ survival
km_out <- function(d, conf_type) {
  fit <- survfit(Surv(time, event) ~ 1, data = d, conf.type = conf_type)
  q <- quantile(fit, 0.5)
  list(time = num(fit$time), n_risk = num(fit$n.risk), n_event = num(fit$n.event),
       n_censor = num(fit$n.censor), survival = num(fit$surv),
       se = num(fit$surv * fit$std.err), ci_low = num(fit$lower),
       ci_high = num(fit$upper), median = num(q$quantile), median_ci_low = num(q$lower),
       median_ci_high = num(q$upper))
}
cox_out <- function(d, ties) {
  fit <- coxph(Surv(time, event) ~ arm, data = d, ties = ties,
               control = coxph.control(eps = 1e-12, iter.max = 100))
  s <- summary(fit)
  list(log_hr = num(coef(fit)), se = num(sqrt(vcov(fit))),
       hr = num(exp(coef(fit))), ci_low = num(s$conf.int[, "lower .95"]),
       ci_high = num(s$conf.int[, "upper .95"]), z = num(s$coefficients[, "z"]),
       p_wald = num(s$coefficients[, "Pr(>|z|)"]),
       score = num(s$sctest["test"]), p_score = num(s$sctest["pvalue"]),
       lrt = num(s$logtest["test"]), p_lrt = num(s$logtest["pvalue"]),
       loglik_null = num(fit$loglik[1]), loglik = num(fit$loglik[2]),
       iterations = num(fit$iter))
}
survival_out <- list()
for (name in unique(survival_data$dataset)) {
  d <- survival_data[survival_data$dataset == name, ]
  sd <- survdiff(Surv(time, event) ~ arm, data = d)
  km <- list()
  for (ct in c("log", "log-log", "plain")) {
    km[[ct]] <- list(all = km_out(d, ct), control = km_out(d[d$arm == 0, ], ct),
                     treated = km_out(d[d$arm == 1, ], ct))
  }
  cox <- suppressWarnings(list(efron = cox_out(d, "efron"),
                               breslow = cox_out(d, "breslow")))
  survival_out[[name]] <- list(
    km = km,
    logrank = list(chisq = num(sd$chisq), observed_control = num(sd$obs[1]),
                   observed_treated = num(sd$obs[2]), expected_control = num(sd$exp[1]),
                   expected_treated = num(sd$exp[2]), variance = num(sd$var[2, 2]),
                   p_value = num(pchisq(sd$chisq, 1, lower.tail = FALSE))),
    cox = cox)
}

# ------------------------------------------------------------------ competing risks
competing$event <- factor(competing$status, 0:2, labels = c("censor", "improve", "death"))
fg <- finegray(Surv(time, event) ~ arm, data = competing, etype = "improve")
fg_fit <- coxph(Surv(fgstart, fgstop, fgstatus) ~ arm, weights = fgwt, data = fg,
                control = coxph.control(eps = 1e-12, iter.max = 100))
fg_s <- summary(fg_fit)
aj_out <- function(d) {
  d$event <- factor(d$status, 0:2, labels = c("censor", "improve", "death"))
  fit <- survfit(Surv(time, event) ~ 1, data = d)
  list(time = num(fit$time), n_risk = num(fit$n.risk[, 1]),
       cif_improve = num(fit$pstate[, 2]), cif_death = num(fit$pstate[, 3]),
       event_free = num(fit$pstate[, 1]),
       # infinitesimal-jackknife standard errors and the default ("log") 95% limits
       se_improve = num(fit$std.err[, 2]), se_death = num(fit$std.err[, 3]),
       se_event_free = num(fit$std.err[, 1]), conf_type = fit$conf.type,
       ci_low_improve = num(fit$lower[, 2]), ci_high_improve = num(fit$upper[, 2]),
       ci_low_death = num(fit$lower[, 3]), ci_high_death = num(fit$upper[, 3]))
}
competing_aj <- list()
for (name in c("competing", "competing_censored")) {
  d <- get(name)
  competing_aj[[name]] <- list(control = aj_out(d[d$arm == 0, ]),
                               treated = aj_out(d[d$arm == 1, ]))
}
competing_out <- list(aalen_johansen = competing_aj, fine_gray = list(
  log_hr = num(coef(fg_fit)), hr = num(exp(coef(fg_fit))),
  se = num(sqrt(diag(fg_s$coefficients[, "se(coef)", drop = FALSE]^2))),
  ci_low = num(fg_s$conf.int[, "lower .95"]), ci_high = num(fg_s$conf.int[, "upper .95"]),
  weights = num(range(fg$fgwt))))

# ------------------------------------------------------------------ ordinal
polr_out <- function(d, formula, null_formula) {
  d$y <- factor(d$who, levels = sort(unique(d$who)), ordered = TRUE)
  npar <- ncol(model.matrix(formula, d)) - 1 + nlevels(d$y) - 1
  ctrl <- list(reltol = 1e-15, maxit = 10000, ndeps = rep(1e-6, npar))
  fit <- polr(update(formula, y ~ .), data = d, Hess = TRUE, control = ctrl)
  null <- polr(update(null_formula, y ~ .), data = d, Hess = TRUE,
               control = list(reltol = 1e-15, maxit = 10000, ndeps = rep(1e-6, npar - 1)))
  v <- vcov(fit)
  p <- length(coef(fit))
  list(coefficients = num(coef(fit)), coef_names = names(coef(fit)),
       coef_se = num(sqrt(diag(v))[seq_len(p)]), zeta = num(fit$zeta),
       zeta_names = names(fit$zeta), zeta_se = num(sqrt(diag(v))[-seq_len(p)]),
       loglik = num(logLik(fit)), loglik_null = num(logLik(null)),
       deviance = num(deviance(fit)), levels = num(levels(d$y)))
}
ordinal_out <- list()
for (name in unique(ordinal$dataset)) {
  d <- ordinal[ordinal$dataset == name, ]
  ordinal_out[[name]] <- list(
    arm = polr_out(d, ~ arm, ~ 1),
    arm_age = polr_out(d, ~ arm + age, ~ age))
}

# ------------------------------------------------------------------ continuous
continuous_out <- list()
for (name in unique(continuous$dataset)) {
  d <- continuous[continuous$dataset == name, ]
  x <- d$outcome[d$arm == 1]
  y <- d$outcome[d$arm == 0]
  w1 <- wilcox.test(x, y, exact = FALSE, correct = TRUE)
  w0 <- wilcox.test(x, y, exact = FALSE, correct = FALSE)
  entry <- list(wilcox = list(statistic = num(w1$statistic), p_value = num(w1$p.value),
                              p_value_uncorrected = num(w0$p.value)))
  if (!any(duplicated(d$outcome))) {
    entry$wilcox$hodges_lehmann <- num(
      wilcox.test(x, y, exact = TRUE, conf.int = TRUE)$estimate)
  }
  d$change <- d$outcome - d$baseline
  for (spec in list(list(key = "ancova", f = change ~ arm + baseline),
                    list(key = "ancova_age", f = change ~ arm + baseline + age),
                    list(key = "ancova_outcome", f = outcome ~ arm + baseline))) {
    fit <- lm(spec$f, data = d)
    co <- summary(fit)$coefficients
    ci <- confint(fit)
    entry[[spec$key]] <- list(terms = rownames(co), estimate = num(co[, 1]),
                              se = num(co[, 2]), statistic = num(co[, 3]),
                              p_value = num(co[, 4]), ci_low = num(ci[, 1]),
                              ci_high = num(ci[, 2]), df = num(fit$df.residual),
                              sigma = num(summary(fit)$sigma))
  }
  continuous_out[[name]] <- entry
}

# ------------------------------------------------------------------ worst rank
# A change with deaths before the assessment (Lachin 1999): deaths rank below every survivor,
# the earlier death worse. Own seed, so the datasets above do not move.
set.seed(20261204)
worst <- do.call(rbind, lapply(1:4, function(k) {
  n <- c(20, 35, 50, 64)[k]
  arm <- rep(0:1, length.out = n)
  value <- round(rnorm(n) + 0.4 * arm, 1)
  dead <- runif(n) < 0.3
  death <- ifelse(dead, sample(1:5, n, replace = TRUE), NA)
  value[dead] <- NA
  data.frame(dataset = sprintf("worst_%02d", k), value = value, death = death, arm = arm)
}))
write_data(worst, "trial_stats_worst_rank.csv")
worst_out <- list()
for (name in unique(worst$dataset)) {
  d <- worst[worst$dataset == name, ]
  entry <- list()
  for (direction in c("higher", "lower")) {
    oriented <- if (direction == "higher") d$value else -d$value
    score <- ifelse(is.na(d$death), oriented, d$death - 1e6)
    x <- score[d$arm == 1]
    y <- score[d$arm == 0]
    w <- wilcox.test(x, y, exact = FALSE, correct = TRUE)
    wins <- outer(x, y, ">") + 0.5 * outer(x, y, "==")
    theta <- mean(wins)
    se <- sqrt(var(rowMeans(wins)) / length(x) + var(colMeans(wins)) / length(y))
    half <- qnorm(0.975) * se / (theta * (1 - theta))
    entry[[direction]] <- list(statistic = num(w$statistic), p_value = num(w$p.value),
                               estimate = num(theta), se = num(se),
                               ci_low = num(plogis(qlogis(theta) - half)),
                               ci_high = num(plogis(qlogis(theta) + half)))
  }
  worst_out[[name]] <- entry
}

out <- list(
  meta = list(r_version = R.version.string,
              survival = as.character(packageVersion("survival")),
              mass = as.character(packageVersion("MASS")),
              metafor = as.character(packageVersion("metafor"))),
  binary = binary_out, survival = survival_out, ordinal = ordinal_out,
  continuous = continuous_out, competing = competing_out, worst_rank = worst_out)
write_json(out, file.path(out_dir, "trial_stats_reference.json"), auto_unbox = TRUE,
           digits = NA, na = "null", pretty = TRUE)
