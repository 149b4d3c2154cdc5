/* mgc-train: train a model on a folder of labelled audio (or list files),
 * with the same front-end, windows and decision rule as mgcd. Also
 * stratified K-fold cross-validation at track level (--folds K). With
 * --table, the data are the rows of a feature table (one 1-frame track per
 * clip, for conf/models/mlp.yaml), through the same trainer and figures. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mgc/model/arch.h"
#include "mgc/train/bandstats.h"
#include "mgc/train/corpus.h"
#include "mgc/train/crossval.h"
#include "mgc/util/parse.h"
#include "mgc/train/recipe.h"
#include "mgc/report/report.h"
#include "mgc/train/feature_csv.h"

#include "tool.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: mgc-train --recipe R.yaml --data ROOT --out MODEL.safetensors [options]\n"
          "       mgc-train --recipe R.yaml --table CSV [--list FILE] --out MODEL.safetensors\n"
          "       mgc-train --recipe R.yaml --table CSV --data ROOT --folds K [--cv-json FILE]\n"
          "\n"
          "data:\n"
          "  --data ROOT          <class>/<audio files>, or the root the list files resolve against\n"
          "  --list FILE          training tracks (e.g. GTZAN's train.txt); default: all of ROOT\n"
          "  --valid-list FILE    validation tracks; default: a stratified share of the training\n"
          "                       tracks ('validation' in the recipe)\n"
          "  --cache DIR          feature cache (default $XDG_CACHE_HOME/mgc or ~/.cache/mgc)\n"
          "  --no-cache           compute features in memory only\n"
          "  --table CSV          a feature table instead of audio (one row per track, e.g.\n"
          "                       GTZAN's features_30_sec.csv; architecture with feature: table):\n"
          "                       --list / --valid-list select rows by file name (default: all)\n"
          "  --table CSV --data ROOT --folds K\n"
          "                       folds over ROOT's audio tracks, the same as an audio model's\n"
          "                       --folds K with the same seed; each fold's model learns every\n"
          "                       row but that fold's tracks, and is tested on their rows\n"
          "  --groups F1,F2,...   with --table --data --folds: lists of rows that share no\n"
          "                       artist (e.g. the train, valid and test lists of an\n"
          "                       artist-filtered split); a fold's track in list i is\n"
          "                       predicted by a model that learned only the other lists' rows,\n"
          "                       a track in none of them by one that learned every listed row\n"
          "recipe overrides:\n"
          "  --epochs N --batch N --lr X --seed N --patience N --validation F\n"
          "  --init MODEL         fine-tune: start from this model (tensors of the same name and\n"
          "                       shape, its front-end and statistics; the recipe's init)\n"
          "  --no-augment         switch off every augmentation, audio variants included\n"
          "  --threads N          split each batch across N threads (default: one per online\n"
          "                       core; the recipe's threads); results are the same for any N\n"
          "outputs:\n"
          "  --out FILE           the trained model (best validation epoch)\n"
          "  --curves FILE.csv    learning curves (default: OUT with .curves.csv)\n"
          "  --checkpoint PREFIX  checkpoint after every epoch; --resume continues from it\n"
          "  --folds K            stratified K-fold cross-validation at track level instead:\n"
          "                       reports each fold and the mean and spread; --out is not written\n"
          "  --cv-json FILE       the cross-validation results as JSON\n"
          "  --report DIR         with --folds: HTML report of the out-of-fold predictions\n"
          "  --dry-run            with --folds: write the folds (as --cv-json) and stop\n"
          "  --quiet              only the final figures\n");
}

typedef struct opts {
  const char *recipe, *data, *list, *valid_list, *cache, *out, *curves, *checkpoint, *cv_json;
  const char *report, *table, *groups, *init_path;
  const mgc_model *init; /* fine-tuning: the model to start from (the recipe's init) */
  const mgc_recipe *then;     /* the second stage, or NULL */
  const mgc_arch *then_arch;
  int no_cache, resume, folds, quiet, no_augment, dry_run;
  int epochs, batch, patience;
  int threads; /* -1: the recipe's */
  double lr, validation;
  long long seed;
} opts;

static int g_quiet;
static void log_line(void *user, const char *line) {
  (void)user;
  if (!g_quiet || !strncmp(line, "warning", 7)) fprintf(stderr, "%s\n", line);
}

/* Everything loaded once: the clean corpus and one corpus per audio variant.
 * With --table, ds and clean are the table's rows; with --table and --data,
 * the audio dataset's track a is row arows[a] and the folds are fixed. */
typedef struct data {
  mgc_dataset *ds;
  mgc_corpus *clean;
  int n_var;
  mgc_corpus *var[MGC_RECIPE_MAX_VARIANTS];
  int n_audio;
  int *arows;
  int *fold;   /* per ds track, set up front with --table --data (-1: never tested) */
  int n_groups;  /* --groups: the number of lists; 0 without */
  int *group;    /* per ds track: its list (0..n_groups-1), n_groups when in none */
} data;

/* The training set: clean tracks idx plus their variant copies. */
static mgc_status gather(const data *d, const int *idx, int n, mgc_feature_matrix **feats,
                         int **labels, int *total) {
  int cap = n * (1 + d->n_var);
  *feats = calloc((size_t)cap + 1, sizeof **feats);
  *labels = calloc((size_t)cap + 1, sizeof **labels);
  if (!*feats || !*labels) return mgc_error_set(MGC_ENOMEM, "out of memory");
  int k = 0;
  for (int i = 0; i < n; i++) {
    (*feats)[k] = d->clean->feats[idx[i]];
    (*labels)[k++] = d->clean->labels[idx[i]];
    int src = d->clean->src[idx[i]];
    for (int v = 0; v < d->n_var; v++)
      for (int j = 0; j < d->var[v]->n_tracks; j++)
        if (d->var[v]->src[j] == src) {
          (*feats)[k] = d->var[v]->feats[j];
          (*labels)[k++] = d->var[v]->labels[j];
          break;
        }
  }
  *total = k;
  return MGC_OK;
}

/* Table rows standardised with the model's statistics into *buf, as 1-frame
 * tracks *mats that replace set->feats. */
static mgc_status standardise_rows(const mgc_model *m, mgc_train_set *set, float **buf,
                                   mgc_feature_matrix **mats) {
  int n = set->n_tracks;
  size_t dim = n ? set->feats[0].dim : 0;
  *buf = malloc(((size_t)n * dim + 1) * sizeof(float));
  *mats = calloc((size_t)n + 1, sizeof **mats);
  if (!*buf || !*mats) return mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    if (set->feats[i].n_frames != 1 || set->feats[i].dim != dim)
      return mgc_error_set(MGC_EINVAL, "table track %d is not one row of %zu values", i, dim);
    memcpy(*buf + (size_t)i * dim, set->feats[i].data, dim * sizeof(float));
    (*mats)[i] = (mgc_feature_matrix){*buf + (size_t)i * dim, 1, dim, NAN};
  }
  mgc_model_standardize(m, *buf, *buf, n);
  set->feats = *mats;
  return MGC_OK;
}

/* Adds one track's feature values to the standardisation statistics, as
 * the model will standardise them: through the architecture's input_log. */
static mgc_status add_stats(mgc_band_stats *bs, const mgc_arch *arch, const mgc_feature_matrix *f,
                            size_t dim) {
  size_t n = f->n_frames * (f->dim / dim);
  if (!arch->n_input_log) {
    mgc_band_stats_add(bs, f->data, n);
    return MGC_OK;
  }
  float *tmp = malloc(n * dim * sizeof *tmp + 1);
  if (!tmp) return mgc_error_set(MGC_ENOMEM, "out of memory");
  memcpy(tmp, f->data, n * dim * sizeof *tmp);
  mgc_arch_log_frames(arch, tmp, n, dim);
  mgc_band_stats_add(bs, tmp, n);
  free(tmp);
  return MGC_OK;
}

/* Train one model on clean-corpus tracks tr (plus their audio variants),
 * validating on vc (may be NULL). */
static mgc_status train_one(const opts *o, const mgc_recipe *r, const mgc_arch *arch,
                            const data *d, const int *tr, int n_tr, const mgc_corpus *vc,
                            const char *curves, mgc_model **out, mgc_train_result *res) {
  *out = NULL;
  mgc_feature_matrix *feats = NULL;
  int *labels = NULL, total = 0;
  mgc_band_stats *bs = NULL;
  mgc_model *m = NULL;
  float *mean = NULL, *sd = NULL, *zt = NULL, *zv = NULL;
  mgc_feature_matrix *ft = NULL, *fv = NULL;
  mgc_status st = gather(d, tr, n_tr, &feats, &labels, &total);
  if (st) goto done;
  /* Standardisation from the clean training tracks only: one statistic per
   * feature value, or one for all of them when the model's input has a
   * single band (a waveform's one channel of samples). */
  int dim = (int)d->clean->feats[tr[0]].dim;
  if (arch->input.d[mgc_model_band_axis(arch)] == 1) dim = 1;
  if ((st = mgc_band_stats_new(dim, &bs))) goto done;
  for (int i = 0; i < n_tr && !st; i++)
    st = add_stats(bs, arch, &d->clean->feats[tr[i]], (size_t)dim);
  if (st) goto done;
  mean = malloc((size_t)dim * sizeof(float));
  sd = malloc((size_t)dim * sizeof(float));
  if (!mean || !sd) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto done;
  }
  mgc_band_stats_get(bs, mean, sd);
  st = mgc_model_new(arch, d->ds->n_classes, (const char *const *)d->ds->classes,
                     r->train.seed, &m);
  if (!st && o->init) {
    /* The pretrained body brings its own input scaling (and front-end). */
    int copied;
    char fresh[512];
    st = mgc_model_init_from(m, o->init, &copied, fresh, sizeof fresh);
    if (!st) {
      char line[768];
      snprintf(line, sizeof line, "init: %d tensors from %s; initialised fresh: %s", copied,
               o->init_path, fresh[0] ? fresh : "none");
      log_line(NULL, line);
    }
  } else if (!st) {
    st = mgc_model_set_norm(m, dim, mean, sd);
  }
  if (!st) st = mgc_model_set_recipe(m, r->text);
  if (st) goto done;
  /* The window the model was trained on travels with it, for mgcd and mgc-eval. */
  m->frontend.segment_frames = r->train.win_len;
  m->frontend.segment_hop = r->train.win_hop;
  mgc_train_config cfg = r->train;
  cfg.curves_csv = curves;
  cfg.checkpoint = o->checkpoint;
  cfg.resume = o->resume;
  cfg.log = log_line;
  mgc_train_set ts = {total, labels, feats};
  mgc_train_set vs = vc ? mgc_corpus_train_set(vc) : (mgc_train_set){0};
  if (o->table) {
    /* Table rows are standardised up front and the net learns without the
     * model's statistics, so that augmentation (noise_std, gain_db) is in
     * standard deviations, not in each feature's own units; the statistics
     * go back into the model for inference (the same arithmetic). */
    if ((st = standardise_rows(m, &ts, &zt, &ft)) || (st = standardise_rows(m, &vs, &zv, &fv)) ||
        (st = mgc_model_set_norm(m, 0, NULL, NULL)))
      goto done;
  }
  if ((st = mgc_train_run(&cfg, m, &ts, vc && vc->n_tracks ? &vs : NULL, res))) goto done;
  if (o->then) {
    /* The second stage starts from the first's model, on the same tracks. */
    mgc_model *m2 = NULL;
    int copied;
    char fresh[512], line[2048];
    st = mgc_model_new(o->then_arch, d->ds->n_classes, (const char *const *)d->ds->classes,
                       o->then->train.seed, &m2);
    if (!st) st = mgc_model_init_from(m2, m, &copied, fresh, sizeof fresh);
    if (!st) st = mgc_model_set_recipe(m2, o->then->text);
    if (st) {
      mgc_model_free(m2);
      goto done;
    }
    snprintf(line, sizeof line, "then %s: %d tensors from the first stage; fresh: %s",
             o->then->architecture, copied, fresh[0] ? fresh : "none");
    log_line(NULL, line);
    m2->frontend.segment_frames = o->then->train.win_len;
    m2->frontend.segment_hop = o->then->train.win_hop;
    mgc_train_config cfg2 = o->then->train;
    cfg2.curves_csv = NULL;
    cfg2.log = log_line;
    cfg2.threads = cfg.threads;
    st = mgc_train_run(&cfg2, m2, &ts, vc && vc->n_tracks ? &vs : NULL, res);
    mgc_model_free(m);
    m = m2;
    if (st) goto done;
  }
  if (o->table && (st = mgc_model_set_norm(m, dim, mean, sd))) goto done;
  *out = m;
  m = NULL;
done:
  free(mean);
  free(sd);
  free(zt);
  free(zv);
  free(ft);
  free(fv);
  mgc_model_free(m);
  mgc_band_stats_free(bs);
  free(feats);
  free(labels);
  return st;
}

/* Show a few of a list's missing entries and count the rest. */
static void log_missing(char *const *msg, int n) {
  for (int i = 0; i < n && i < 5; i++) log_line(NULL, msg[i]);
  if (n > 5) fprintf(stderr, "warning: ... and %d more listed tracks not found\n", n - 5);
}

/* --groups F1,F2,...: each row's list in d->group (d->n_groups for rows in
 * none); a row in two lists is an error, since the lists must not share
 * artists. */
static void load_groups(const opts *o, const mgc_feature_csv *t, data *d) {
  char *copy = strdup(o->groups);
  if (!copy || !(d->group = malloc(((size_t)t->n_rows + 1) * sizeof *d->group)))
    tool_die("out of memory");
  for (int i = 0; i < t->n_rows; i++) d->group[i] = -1;
  char *save = NULL;
  for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
    mgc_feature_csv_selection *sel;
    if (mgc_feature_csv_select_list(t, f, &sel)) tool_die(NULL);
    log_missing(sel->missing, sel->n_missing);
    for (int i = 0; i < sel->n; i++) {
      int row = sel->rows[i];
      if (d->group[row] >= 0) {
        fprintf(stderr, "mgc-train: --groups: '%s' is in %s and in an earlier list\n", t->ids[row], f);
        exit(1);
      }
      d->group[row] = d->n_groups;
    }
    d->n_groups++;
    fprintf(stderr, "group %d: %d rows listed in %s\n", d->n_groups, sel->n, f);
    mgc_feature_csv_selection_free(sel);
  }
  for (int i = 0; i < t->n_rows; i++)
    if (d->group[i] < 0) d->group[i] = d->n_groups;
  fprintf(stderr,
          "folds: %d over the %d tracks of %s; a fold's track in group g is predicted by a model "
          "that learned the rows of the other groups only, one in no group by a model that "
          "learned every grouped row (never the fold's own tracks)\n",
          o->folds, d->n_audio, o->data);
  free(copy);
}

/* --table: the rows (those of --list, else all) as d->ds and d->clean, the
 * rows of --valid-list as *vclean. With --data: every row, and the folds of
 * the audio dataset ROOT (or --list under ROOT), made exactly as an audio
 * run makes them, fixed on the rows of its tracks (d->fold, d->arows); those
 * rows take the dataset's track names, so that out-of-fold results join an
 * audio model's track by track. */
static void load_table(const opts *o, const mgc_recipe *r, data *d, mgc_feature_csv **tab,
                       mgc_corpus **vclean) {
  mgc_dataset *ads = NULL;
  if (o->data) {
    if (o->list ? mgc_dataset_from_list(o->list, o->data, NULL, 0, &ads)
                : mgc_dataset_scan(o->data, &ads))
      tool_die(NULL);
    log_missing(ads->skipped, ads->n_skipped);
    if (mgc_feature_csv_load(o->table, (const char *const *)ads->classes, ads->n_classes, tab))
      tool_die(NULL);
  } else if (mgc_feature_csv_load(o->table, NULL, 0, tab)) {
    tool_die(NULL);
  }
  mgc_feature_csv *t = *tab;
  int n = t->n_rows, *rows = malloc(((size_t)n + 1) * sizeof *rows);
  if (!rows) tool_die("out of memory");
  for (int i = 0; i < n; i++) rows[i] = i;
  int n_missing = 0;
  if (!o->data && o->list) {
    mgc_feature_csv_selection *sel;
    if (mgc_feature_csv_select_list(t, o->list, &sel)) tool_die(NULL);
    log_missing(sel->missing, sel->n_missing);
    n = sel->n;
    n_missing = sel->n_missing;
    memcpy(rows, sel->rows, (size_t)n * sizeof *rows);
    mgc_feature_csv_selection_free(sel);
  }
  if (mgc_feature_csv_dataset(t, rows, n, &d->ds) || mgc_feature_csv_corpus(t, rows, n, &d->clean))
    tool_die(NULL);
  free(rows);
  if (o->list && !o->data)
    fprintf(stderr, "table %s: %d rows in %d classes, training on the %d listed in %s (%d listed "
            "not found)\n", o->table, t->n_rows, t->n_classes, n, o->list, n_missing);
  else
    fprintf(stderr, "table %s: %d rows in %d classes\n", o->table, t->n_rows, t->n_classes);
  if (o->valid_list) {
    mgc_feature_csv_selection *vs;
    if (mgc_feature_csv_select_list(t, o->valid_list, &vs)) tool_die(NULL);
    log_missing(vs->missing, vs->n_missing);
    if (mgc_feature_csv_corpus(t, vs->rows, vs->n, vclean)) tool_die(NULL);
    fprintf(stderr, "validation: %d rows listed in %s (%d not found)\n", vs->n, o->valid_list,
            vs->n_missing);
    mgc_feature_csv_selection_free(vs);
  }
  if (!ads) return;
  int na = ads->n_tracks;
  int *afold = malloc(((size_t)na + 1) * sizeof *afold);
  d->arows = malloc(((size_t)na + 1) * sizeof *d->arows);
  d->fold = malloc(((size_t)t->n_rows + 1) * sizeof *d->fold);
  if (!afold || !d->arows || !d->fold) tool_die("out of memory");
  if (mgc_feature_csv_match_dataset(t, ads, d->arows)) tool_die(o->data);
  if (mgc_dataset_folds(ads, o->folds, r->train.seed, afold)) tool_die("folds");
  d->n_audio = na;
  for (int i = 0; i < t->n_rows; i++) d->fold[i] = -1;
  for (int a = 0; a < na; a++) {
    int row = d->arows[a];
    if (d->fold[row] >= 0) {
      fprintf(stderr, "mgc-train: %s: '%s' and another track share line %d of %s\n", o->data,
              ads->tracks[a].name, t->lines[row], o->table);
      exit(1);
    }
    d->fold[row] = afold[a];
    char *name = strdup(ads->tracks[a].name);
    if (!name) tool_die("out of memory");
    free(d->clean->names[row]);
    d->clean->names[row] = name;
  }
  if (o->groups) load_groups(o, t, d);
  else
    fprintf(stderr,
            "folds: %d over the %d tracks of %s (seed %llu, as an audio model's --folds %d); each "
            "fold's model learns the %d other rows of the table\n",
            o->folds, na, o->data, (unsigned long long)r->train.seed, o->folds, t->n_rows);
  free(afold);
  mgc_dataset_free(ads);
}

/* What the cross-validation's callbacks need. */
typedef struct cv_ctx {
  const opts *o;
  const mgc_recipe *r;
  const mgc_arch *arch;
  const data *d;
} cv_ctx;

/* One fold's model (one per group with --groups), its curves beside
 * --curves with the fold (and group) in the name. */
static mgc_status cv_train(void *user, int fold, int group, const int *tr, int n_tr, const mgc_corpus *vc,
                           mgc_model **m, mgc_train_result *res) {
  cv_ctx *x = user;
  char curves[1100];
  if (x->o->curves && group >= 0)
    snprintf(curves, sizeof curves, "%s.fold%d.group%d.csv", x->o->curves, fold + 1, group + 1);
  else if (x->o->curves)
    snprintf(curves, sizeof curves, "%s.fold%d.csv", x->o->curves, fold + 1);
  return train_one(x->o, x->r, x->arch, x->d, tr, n_tr, (mgc_corpus *)vc, x->o->curves ? curves : NULL, m, res);
}

static void cv_log(void *user, const char *line) {
  (void)user;
  fprintf(stderr, "%s\n", line);
}

static int cv_fold_done(void *user, int f, const mgc_cv_fold *r) {
  const cv_ctx *x = user;
  const mgc_metrics *mt = r->metrics;
  printf("fold %d/%d: track accuracy %.1f%% (vote %.1f%%), window accuracy %.1f%%, macro F1 "
         "%.3f, %d test tracks, best epoch %d, %.0f s\n",
         f + 1, x->o->folds, 100 * mt->track_acc, 100 * mt->track_acc_vote, 100 * mt->window_acc, mt->macro_f1,
         r->n_test, r->best_epoch, r->seconds);
  fflush(stdout);
  return 0;
}

/* The summary over the folds, the out-of-fold figures and the report. */
static void print_cv(const opts *o, const mgc_cv_result *r, double seconds) {
  printf("%d-fold cross-validation, track level (mean of window probabilities): %.1f%% +- "
         "%.1f (vote %.1f%% +- %.1f), window level %.1f%% +- %.1f, macro F1 %.3f +- %.3f, "
         "%.0f s\n",
         r->folds, 100 * r->acc_mean, 100 * r->acc_std, 100 * r->vote_mean, 100 * r->vote_std, 100 * r->wacc_mean,
         100 * r->wacc_std, r->f1_mean, r->f1_std, seconds);
  printf("\nout-of-fold predictions (each of the %d tracks decided by the fold model that never "
         "saw it):\n",
         r->oof->n_tracks);
  mgc_metrics_print(r->oof, stdout);
  if (o->report) {
    char info[512];
    snprintf(info, sizeof info, "%d-fold stratified cross-validation, out-of-fold predictions\n"
             "recipe: %s\ndata: %s", r->folds, o->recipe, o->data);
    if (mgc_report_write(o->report, "cross-validation", info, r->oof, NULL, NULL, 0)) tool_die("report");
    fprintf(stderr, "report: %s/index.html\n", o->report);
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* The command line into o; --help, and a usage error, end the program here. */
static void parse_options(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  o->epochs = o->batch = o->patience = -1;
  o->threads = -1;
  o->lr = o->validation = -1;
  o->seed = -1;
  static const struct option lo[] = {
      {"recipe", 1, 0, 'r'},     {"data", 1, 0, 'd'},     {"list", 1, 0, 'l'},
      {"valid-list", 1, 0, 'v'}, {"cache", 1, 0, 'c'},    {"no-cache", 0, 0, 'C'},
      {"out", 1, 0, 'o'},        {"curves", 1, 0, 'u'},   {"checkpoint", 1, 0, 'k'},
      {"resume", 0, 0, 'R'},     {"folds", 1, 0, 'f'},    {"cv-json", 1, 0, 'j'},
      {"epochs", 1, 0, 'e'},     {"batch", 1, 0, 'b'},    {"lr", 1, 0, 'L'},
      {"seed", 1, 0, 's'},       {"patience", 1, 0, 'p'}, {"validation", 1, 0, 'V'},
      {"no-augment", 0, 0, 'A'}, {"quiet", 0, 0, 'q'},    {"help", 0, 0, 'h'},
      {"report", 1, 0, 'P'},     {"dry-run", 0, 0, 'D'},    {"table", 1, 0, 'T'},
      {"init", 1, 0, 'I'},
      {"groups", 1, 0, 'G'},
      {"threads", 1, 0, 'N'},
      {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'r': o->recipe = optarg; break;
    case 'd': o->data = optarg; break;
    case 'l': o->list = optarg; break;
    case 'v': o->valid_list = optarg; break;
    case 'c': o->cache = optarg; break;
    case 'C': o->no_cache = 1; break;
    case 'o': o->out = optarg; break;
    case 'u': o->curves = optarg; break;
    case 'k': o->checkpoint = optarg; break;
    case 'R': o->resume = 1; break;
    case 'f': o->folds = (int)tool_int_opt("--folds", optarg, 2, 1000); break;
    case 'j': o->cv_json = optarg; break;
    case 'e': o->epochs = (int)tool_int_opt("--epochs", optarg, 1, 100000); break;
    case 'b': o->batch = (int)tool_int_opt("--batch", optarg, 2, 65536); break;
    case 'L': o->lr = tool_num_opt("--lr", optarg, 1e-9, 10); break;
    case 's': o->seed = tool_int_opt("--seed", optarg, 0, 2147483647); break;
    case 'p': o->patience = (int)tool_int_opt("--patience", optarg, 0, 100000); break;
    case 'V': o->validation = tool_num_opt("--validation", optarg, 0, 0.5); break;
    case 'A': o->no_augment = 1; break;
    case 'q': o->quiet = 1; break;
    case 'P': o->report = optarg; break;
    case 'D': o->dry_run = 1; break;
    case 'T': o->table = optarg; break;
    case 'G': o->groups = optarg; break;
    case 'I': o->init_path = optarg; break;
    case 'N': o->threads = (int)tool_int_opt("--threads", optarg, 1, 256); break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
  }
  if (optind != argc || !o->recipe || (!o->data && !o->table) || (!o->out && o->folds == 0) ||
      o->folds == 1 || o->folds < 0 || (o->resume && !o->checkpoint) ||
      (o->table && o->data && (o->folds == 0 || o->valid_list)) ||
      (o->groups && !(o->table && o->data))) {
    usage(stderr);
    exit(2);
  }
}

/* The recipe with the command line's overrides, its architecture, the
 * second stage's (then:) and the model it starts from (init:). */
static mgc_recipe *load_recipe(opts *o, mgc_arch **arch, mgc_recipe **then, mgc_arch **then_arch,
                               mgc_model **init) {
  mgc_recipe *r;
  *then = NULL, *then_arch = NULL, *init = NULL;
  if (mgc_recipe_load(o->recipe, &r)) tool_die(NULL);
  if (o->epochs > 0) r->train.epochs = o->epochs;
  if (o->batch > 1) r->train.batch = o->batch;
  if (o->lr > 0) r->train.optim.lr = r->train.schedule.base_lr = r->train.schedule.lr = o->lr;
  if (o->seed >= 0) r->train.seed = (uint64_t)o->seed;
  if (o->patience >= 0) r->train.patience = o->patience;
  if (o->threads > 0) r->train.threads = o->threads;
  if (o->validation >= 0) r->validation = o->validation;
  if (o->no_augment) {
    mgc_augment_params_default(&r->train.aug);
    r->n_variants = 0;
  }
  if (mgc_arch_load(r->architecture, arch)) tool_die(NULL);
  if (r->then[0]) {
    if (mgc_recipe_load(r->then, then) || mgc_arch_load((*then)->architecture, then_arch))
      tool_die("then");
    if (o->epochs > 0) (*then)->train.epochs = o->epochs;
    if (o->seed >= 0) (*then)->train.seed = (uint64_t)o->seed;
    o->then = *then;
    o->then_arch = *then_arch;
  }
  if (o->init_path) snprintf(r->init, sizeof r->init, "%s", o->init_path);
  if (r->init[0]) {
    if (o->table) {
      fprintf(stderr, "mgc-train: a feature table cannot start from a model (init)\n");
      exit(2);
    }
    if (mgc_model_load(r->init, init)) tool_die("init");
    o->init = *init;
    o->init_path = r->init;
  }
  return r;
}

/* The audio of --data (and --list, --valid-list): its tracks' features,
 * through the cache, plain and in the recipe's audio variants. */
static void load_audio(const opts *o, const mgc_recipe *r, const mgc_arch *arch, const mgc_model *init, data *d,
                       mgc_featcache **cache, mgc_dataset **vds, mgc_corpus **vclean, double t0) {
  mgc_feature_kind kind;
  if (mgc_feature_kind_parse(arch->feature, &kind))
    tool_die("the architecture's 'feature' is not one mgc-train can compute yet (a feature table: "
        "--table)");
  mgc_frontend_params fp;
  mgc_frontend_params_default(&fp);
  if (init) fp = init->frontend; /* the features the pretrained net learned on */
  char cache_dir[1024];
  if (o->cache) snprintf(cache_dir, sizeof cache_dir, "%s", o->cache);
  else mgc_featcache_default_dir(cache_dir, sizeof cache_dir);
  if (mgc_featcache_new(o->no_cache ? NULL : cache_dir, &fp, kind, cache)) tool_die("feature cache");

  if (o->list ? mgc_dataset_from_list(o->list, o->data, NULL, 0, &d->ds)
             : mgc_dataset_scan(o->data, &d->ds))
    tool_die(NULL);
  /* Lists like GTZAN's name every track of the full set; on a subset most
   * are absent, so show a few and count the rest. */
  for (int i = 0; i < d->ds->n_skipped && i < 5; i++) log_line(NULL, d->ds->skipped[i]);
  if (d->ds->n_skipped > 5)
    fprintf(stderr, "warning: ... and %d more listed tracks not found\n", d->ds->n_skipped - 5);
  if (o->valid_list &&
      mgc_dataset_from_list(o->valid_list, o->data, (const char *const *)d->ds->classes,
                            d->ds->n_classes, vds))
    tool_die(NULL);
  fprintf(stderr, "data: %d tracks in %d classes (%d listed tracks not found)%s\n",
          d->ds->n_tracks, d->ds->n_classes, d->ds->n_skipped,
          *vds ? ", plus a validation list" : "");
  if (mgc_corpus_load(d->ds, *cache, NULL, r->train.seed, log_line, NULL, &d->clean)) tool_die(NULL);
  for (int v = 0; v < r->n_variants; v++) {
    if (mgc_corpus_load(d->ds, *cache, r->variants[v], r->train.seed, log_line, NULL, &d->var[v]))
      tool_die(r->variants[v]);
    d->n_var++;
  }
  if (*vds && mgc_corpus_load(*vds, *cache, NULL, r->train.seed, log_line, NULL, vclean))
    tool_die(NULL);
  long hits, misses, replaced;
  mgc_featcache_stats(*cache, &hits, &misses, &replaced);
  fprintf(stderr,
          "features: %d tracks readable, %d unreadable (skipped); cache %ld hits, %ld computed"
          "%s; %.1f s\n",
          d->clean->n_tracks, d->clean->n_failed, hits, misses,
          replaced ? " (damaged cache files replaced)" : "", now_s() - t0);
}

/* The final model: on every track (but a validation share, when the
 * recipe asks for one and no --valid-list gives it), its curves and
 * metrics inside, written to --out. */
static void train_final(const opts *o, const mgc_recipe *r, const mgc_arch *arch, const data *d, mgc_corpus *vclean,
                        const int *all, int n, int *tr, int *va) {
  int n_tr = 0, n_va = 0;
  mgc_model *m;
  mgc_train_result res;
  char curves[1100];
  if (o->curves) snprintf(curves, sizeof curves, "%s", o->curves);
  else snprintf(curves, sizeof curves, "%s.curves.csv", o->out);
  mgc_corpus *vc = vclean;
  if (!vclean && r->validation > 0) {
    if (mgc_cv_holdout(d->ds, d->clean, all, n, r->validation, r->train.seed, tr, &n_tr, va, &n_va) ||
        mgc_corpus_subset(d->clean, va, n_va, &vc))
      tool_die("validation split");
  } else {
    memcpy(tr, all, (size_t)n * sizeof *tr);
    n_tr = n;
  }
  n_va = vc ? vc->n_tracks : 0;
  fprintf(stderr, "training on %d tracks (+%d audio variants each), validating on %d\n", n_tr,
          d->n_var, n_va);
  mgc_status st = train_one(o, r, arch, d, tr, n_tr, vc, curves, &m, &res);
  if (vc != vclean) mgc_corpus_free(vc);
  if (st) tool_die("training");
  char metrics[512];
  snprintf(metrics, sizeof metrics,
           "{\"best_epoch\": %d, \"epochs_run\": %d, \"val_loss\": %.6f, \"val_window_acc\": "
           "%.6f, \"val_track_acc\": %.6f, \"train_tracks\": %d, \"val_tracks\": %d, "
           "\"seconds\": %.1f}",
           res.best_epoch, res.epochs_run, res.best_val_loss, res.best_val_acc,
           res.best_val_track_acc, n_tr, n_va, res.seconds);
  if (n_va == 0) /* no validation: JSON has no infinity, say null */
    snprintf(metrics, sizeof metrics,
             "{\"best_epoch\": %d, \"epochs_run\": %d, \"val_loss\": null, \"val_window_acc\": "
             "null, \"val_track_acc\": null, \"train_tracks\": %d, \"val_tracks\": 0, "
             "\"seconds\": %.1f}",
             res.best_epoch, res.epochs_run, n_tr, res.seconds);
  /* The learning curves travel inside the model, for mgc-eval's report. */
  FILE *cf = fopen(curves, "rb");
  if (cf) {
    char *text = calloc(1, 1 << 20);
    if (text && fread(text, 1, (1 << 20) - 1, cf) > 0 && mgc_model_set_curves(m, text))
      tool_die("curves");
    free(text);
    fclose(cf);
  }
  if (mgc_model_set_metrics(m, metrics) || mgc_model_save(m, o->out)) tool_die("saving");
  if (n_va)
    printf("wrote %s: best epoch %d of %d, validation window accuracy %.1f%%, track accuracy "
           "%.1f%% (%d tracks), %.0f s\n",
           o->out, res.best_epoch, res.epochs_run, 100 * res.best_val_acc,
           100 * res.best_val_track_acc, n_va, res.seconds);
  else
    printf("wrote %s: the last of %d epochs (no validation tracks), %.0f s\n", o->out,
           res.epochs_run, res.seconds);
  mgc_model_free(m);
}

/* K-fold cross-validation (mgc_cv_run) with this recipe: the folds'
 * figures as they come, the summary, --report and --cv-json; with
 * --dry-run the folds alone. Returns the exit status. */
static int cross_validate(const opts *o, const mgc_recipe *r, const mgc_arch *arch, const data *d, int n,
                          double t0) {
  if (o->folds > n) {
    fprintf(stderr, "mgc-train: %d folds for %d tracks\n", o->folds, n);
    return 2;
  }
  int *fold = malloc((size_t)d->ds->n_tracks * sizeof *fold);
  if (!fold) tool_die("out of memory");
  if (d->fold) memcpy(fold, d->fold, (size_t)d->ds->n_tracks * sizeof *fold);
  else if (mgc_dataset_folds(d->ds, o->folds, r->train.seed, fold)) tool_die("folds");
  /* With fixed folds (--table --data) a fold lists its tracks in the audio
   * dataset's order, as an audio run lists them. */
  mgc_cv_setup cs = {d->ds, d->clean, o->folds, fold, d->arows, d->n_audio, d->group, d->n_groups,
                     r->validation, r->train.seed, r->train.win_len, r->train.win_hop};
  if (o->dry_run) {
    /* The folds alone, so that another implementation (bench/torch_train.py)
     * can run the same protocol on the same split. */
    if (mgc_cv_write_folds(&cs, o->cv_json ? o->cv_json : "-")) tool_die(NULL);
    free(fold);
    return 0;
  }
  cv_ctx cx = {o, r, arch, d};
  mgc_cv_result *cvr;
  if (mgc_cv_run(&cs, cv_train, cv_log, cv_fold_done, &cx, &cvr)) tool_die("cross-validation");
  print_cv(o, cvr, now_s() - t0);
  if (o->cv_json && mgc_cv_write(cvr, o->cv_json)) tool_die(NULL);
  mgc_cv_result_free(cvr);
  free(fold);
  return 0;
}

int main(int argc, char **argv) {
  tool_init("mgc-train");
  opts o;
  parse_options(argc, argv, &o);
  g_quiet = o.quiet;
  mgc_arch *arch, *then_arch;
  mgc_recipe *then;
  mgc_model *init;
  mgc_recipe *r = load_recipe(&o, &arch, &then, &then_arch, &init);
  mgc_featcache *cache = NULL;
  data d = {0};
  mgc_corpus *vclean = NULL;
  mgc_dataset *vds = NULL;
  mgc_feature_csv *tab = NULL;
  double t0 = now_s();
  if (o.table) {
    if (arch->input.ndim != 1 || arch->input.d[0] != MGC_CLIP_DIM) {
      fprintf(stderr, "mgc-train: --table needs an architecture whose input is the [%d] feature "
              "vector (feature: table, e.g. conf/models/mlp.yaml); %s is not one\n",
              MGC_CLIP_DIM, r->architecture);
      mgc_arch_free(arch);
      mgc_recipe_free(r);
      return 2;
    }
    /* A row is a track of one frame: windows of 1, no audio variants. */
    r->train.win_len = r->train.win_hop = 1;
    r->train.aug.offset_max = 0;
    r->n_variants = 0;
    load_table(&o, r, &d, &tab, &vclean);
  } else {
    load_audio(&o, r, arch, init, &d, &cache, &vds, &vclean, t0);
  }
  if (d.clean->n_tracks < 2) {
    fprintf(stderr, "mgc-train: fewer than two readable tracks\n");
    return 1;
  }
  int n = d.clean->n_tracks;
  int *all = malloc((size_t)n * sizeof *all), *tr = malloc((size_t)n * sizeof *tr),
      *va = malloc((size_t)n * sizeof *va);
  for (int i = 0; i < n; i++) all[i] = i;
  int rc = 0;

  if (o.folds == 0) {
    train_final(&o, r, arch, &d, vclean, all, n, tr, va);
  } else {
    rc = cross_validate(&o, r, arch, &d, n, t0);
  }
  free(all);
  free(tr);
  free(va);
  mgc_corpus_free(vclean);
  for (int v = 0; v < d.n_var; v++) mgc_corpus_free(d.var[v]);
  mgc_corpus_free(d.clean);
  mgc_dataset_free(vds);
  mgc_dataset_free(d.ds);
  mgc_feature_csv_free(tab);
  free(d.arows);
  free(d.fold);
  free(d.group);
  mgc_featcache_free(cache);
  mgc_arch_free(arch);
  mgc_model_free(init);
  mgc_arch_free(then_arch);
  mgc_recipe_free(then);
  mgc_recipe_free(r);
  return rc;
}
