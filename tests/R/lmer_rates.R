# Reference fit with R's lme4/lmerTest for the agreement tests.
# usage: Rscript lmer_rates.R volumes.tsv participants.tsv reference_group covariates(comma or -) out.tsv \
#          [structure: unstructured|uncorrelated|intercept] [slope covariates (comma or -)]
#          [reference scanner, or - for no scanner term]
# Fits, per region, REML  100*log(volume) ~ group + group:years [+ covariates] + (years | subject)
# [+ scanner, a factor of volumes.tsv's scanner column against the reference scanner]
# and writes each group's slope, each group-vs-reference slope difference and each scanner
# step with its Satterthwaite df and p-value.
suppressMessages({library(lme4); library(lmerTest)})
args <- commandArgs(trailingOnly = TRUE)
volumes <- read.delim(args[1], na.strings = "n/a", stringsAsFactors = FALSE)
participants <- read.delim(args[2], na.strings = "n/a", stringsAsFactors = FALSE)
reference <- args[3]
covariates <- if (args[4] == "-") character(0) else strsplit(args[4], ",")[[1]]
structure <- if (length(args) >= 6) args[6] else "unstructured"
slope_covariates <- if (length(args) >= 7 && args[7] != "-") strsplit(args[7], ",")[[1]] else character(0)
reference_scanner <- if (length(args) >= 8 && args[8] != "-") args[8] else NA
random <- switch(structure, unstructured = "(years | participant_id)", uncorrelated = "(years || participant_id)",
                 intercept = "(1 | participant_id)")
# the participants' columns come from participants.tsv (the group table also carries group)
volumes <- volumes[, setdiff(names(volumes), setdiff(names(participants), "participant_id"))]
data <- merge(volumes, participants, by = "participant_id")
groups <- c(reference, sort(setdiff(unique(data$group), reference)))
data$group <- factor(data$group, levels = groups)
for (name in union(covariates, slope_covariates)) if (is.numeric(data[[name]])) data[[name]] <- data[[name]] - mean(participants[[name]], na.rm = TRUE)
if (!is.na(reference_scanner)) {
  data$scanner <- factor(data$scanner, levels = c(reference_scanner, sort(setdiff(unique(data$scanner), reference_scanner))))
}
rhs <- paste(c("group", "group:years", union(covariates, slope_covariates), if (length(slope_covariates)) paste0(slope_covariates, ":years"),
               if (!is.na(reference_scanner)) "scanner", random),
             collapse = " + ")
rows <- list()
for (region in unique(data$region)) {
  d <- data[data$region == region & data$volume_mm3 > 0, ]
  d$y <- 100 * log(d$volume_mm3)
  fit <- lmer(as.formula(paste("y ~", rhs)), data = d, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
  beta <- fixef(fit)
  for (g in groups) {
    w <- setNames(rep(0, length(beta)), names(beta)); w[paste0("group", g, ":years")] <- 1
    t <- contest1D(fit, w)
    rows[[length(rows) + 1]] <- data.frame(region = region, term = g, kind = "slope", estimate = t$Estimate,
                                           se = t[["Std. Error"]], df = t$df, p = t[["Pr(>|t|)"]])
  }
  for (g in groups[-1]) {
    w <- setNames(rep(0, length(beta)), names(beta))
    w[paste0("group", g, ":years")] <- 1; w[paste0("group", reference, ":years")] <- -1
    t <- contest1D(fit, w)
    rows[[length(rows) + 1]] <- data.frame(region = region, term = g, kind = "difference", estimate = t$Estimate,
                                           se = t[["Std. Error"]], df = t$df, p = t[["Pr(>|t|)"]])
  }
  if (!is.na(reference_scanner)) {
    for (s in levels(d$scanner)[-1]) {
      w <- setNames(rep(0, length(beta)), names(beta)); w[paste0("scanner", s)] <- 1
      t <- contest1D(fit, w)
      rows[[length(rows) + 1]] <- data.frame(region = region, term = s, kind = "scanner", estimate = t$Estimate,
                                             se = t[["Std. Error"]], df = t$df, p = t[["Pr(>|t|)"]])
    }
  }
}
write.table(do.call(rbind, rows), args[5], sep = "\t", quote = FALSE, row.names = FALSE)
