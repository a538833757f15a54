# Each subject's predicted rate from R's lme4, for the agreement tests of subject_effects.tsv.
# usage: Rscript lmer_subjects.R volumes.tsv participants.tsv reference_group out.tsv
# Fits, per region, REML 100*log(volume) ~ group + group:years + (years | subject); writes per
# subject: the fixed slope of its group plus its random slope (fixef + ranef), the random slope's
# conditional variance (ranef(condVar = TRUE), "postVar") and the fixed slope's variance (vcov).
suppressMessages({library(lme4); library(lmerTest)})
args <- commandArgs(trailingOnly = TRUE)
volumes <- read.delim(args[1], na.strings = "n/a", stringsAsFactors = FALSE)
participants <- read.delim(args[2], na.strings = "n/a", stringsAsFactors = FALSE)
reference <- args[3]
data <- merge(volumes, participants, by = "participant_id")
groups <- c(reference, sort(setdiff(unique(data$group), reference)))
data$group <- factor(data$group, levels = groups)
rows <- list()
for (region in unique(data$region)) {
  d <- data[data$region == region & data$volume_mm3 > 0, ]
  d$y <- 100 * log(d$volume_mm3)
  fit <- lmer(y ~ group + group:years + (years | participant_id), data = d, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
  re <- ranef(fit, condVar = TRUE)$participant_id
  post <- attr(re, "postVar")
  beta <- fixef(fit)
  v <- as.matrix(vcov(fit))
  group_of <- tapply(as.character(d$group), d$participant_id, function(g) g[1])
  for (k in seq_len(nrow(re))) {
    subject <- rownames(re)[k]
    term <- paste0("group", group_of[[subject]], ":years")
    rows[[length(rows) + 1]] <- data.frame(
      region = region, participant_id = subject, slope = beta[[term]] + re[k, "years"],
      conditional_variance = post[2, 2, k], fixed_variance = v[term, term])
  }
}
write.table(do.call(rbind, rows), args[4], sep = "\t", quote = FALSE, row.names = FALSE)
