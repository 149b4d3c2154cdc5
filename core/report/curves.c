/* Learning curves: read from mgc-train's CSV, drawn as SVG panels. */
#include "report_impl.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const CURVE_COLS[N_COLS] = {"epoch",   "train_loss", "train_acc",    "val_loss",
                                               "val_acc", "val_track_acc", "lr"};


void mgc_curves_free(mgc_curves *c) {
  for (int k = 0; k < N_COLS; k++) free(c->v[k]);
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
    s[--n] = 0;
  return s;
}

/* Split line at commas in place; returns the field count (at most cap). */
static int split_csv(char *line, char **f, int cap) {
  int n = 0;
  for (char *p = line;;) {
    char *c = strchr(p, ',');
    if (n < cap) f[n] = trim(p);
    n++;
    if (!c) break;
    *c = 0;
    p = c + 1;
  }
  return n;
}

/* Read the CSV. Returns MGC_OK with n == 0 and nothing set when the path is
 * NULL or does not exist. */
mgc_status mgc_curves_read(const char *path, mgc_curves *cv) {
  memset(cv, 0, sizeof *cv);
  if (!path) return MGC_OK;
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return MGC_OK;
    return mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
  }
  enum { MAXF = 64 };
  char *line = NULL, *fld[MAXF];
  size_t lcap = 0;
  int idx[N_COLS], nhead = 0, lineno = 0;
  mgc_status st = MGC_OK;
  for (int k = 0; k < N_COLS; k++) idx[k] = -1;
  while (getline(&line, &lcap, f) >= 0) {
    lineno++;
    if (!*trim(line)) continue;
    int nf = split_csv(line, fld, MAXF);
    if (!nhead) {
      if (nf > MAXF) {
        st = mgc_error_set(MGC_EFORMAT, "%s:%d: %d columns; at most %d are read", path, lineno,
                           nf, MAXF);
        break;
      }
      nhead = nf;
      for (int i = 0; i < nf; i++)
        for (int k = 0; k < N_COLS; k++)
          if (!strcmp(fld[i], CURVE_COLS[k])) idx[k] = i;
      int any = 0;
      for (int k = C_TL; k <= C_VA; k++) any |= idx[k] >= 0;
      if (idx[C_EPOCH] < 0 || !any) {
        st = mgc_error_set(MGC_EFORMAT,
                           "%s:%d: not a learning-curve header (want "
                           "epoch,train_loss,train_acc,val_loss,val_acc,lr)",
                           path, lineno);
        break;
      }
      for (int k = 0; k < N_COLS; k++) cv->has[k] = idx[k] >= 0;
      continue;
    }
    if (nf != nhead) {
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: %d fields, but the header has %d", path, lineno, nf,
                         nhead);
      break;
    }
    if (cv->n == cv->cap) {
      int cap = cv->cap ? 2 * cv->cap : 64;
      for (int k = 0; k < N_COLS; k++) {
        double *q = realloc(cv->v[k], (size_t)cap * sizeof *q);
        if (!q) {
          st = mgc_error_set(MGC_ENOMEM, "out of memory");
          break;
        }
        cv->v[k] = q;
      }
      if (st != MGC_OK) break;
      cv->cap = cap;
    }
    for (int k = 0; k < N_COLS; k++) {
      double x = NAN;
      if (idx[k] >= 0 && *fld[idx[k]]) {
        const char *txt = fld[idx[k]];
        char *end;
        x = strtod(txt, &end);
        if (*end) {
          st = mgc_error_set(MGC_EFORMAT, "%s:%d: %s '%s' is not a number", path, lineno,
                             CURVE_COLS[k], txt);
          break;
        }
        /* nan, inf (a run without validation, a diverged epoch): a gap. */
        if (!isfinite(x)) x = NAN;
      }
      cv->v[k][cv->n] = x;
    }
    if (st != MGC_OK) break;
    if (!isfinite(cv->v[C_EPOCH][cv->n])) {
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: no epoch number", path, lineno);
      break;
    }
    cv->n++;
  }
  if (st == MGC_OK && ferror(f)) st = mgc_error_set(MGC_EIO, "%s: read error", path);
  if (st == MGC_OK && !nhead) st = mgc_error_set(MGC_EFORMAT, "%s: empty file", path);
  if (st == MGC_OK && !cv->n) st = mgc_error_set(MGC_EFORMAT, "%s: a header but no epochs", path);
  free(line);
  fclose(f);
  if (st != MGC_OK) {
    mgc_curves_free(cv);
    memset(cv, 0, sizeof *cv);
  }
  return st;
}

static int finite_range(const double *v, int n, double *lo, double *hi) {
  int any = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(v[i])) continue;
    if (!any || v[i] < *lo) *lo = v[i];
    if (!any || v[i] > *hi) *hi = v[i];
    any = 1;
  }
  return any;
}

typedef struct series {
  int col;            /* column index, -1: none */
  const char *colour;
  const char *label;  /* NULL: no legend entry */
  int dashed;
} series;

/* One panel: up to three series against epochs. A log scale plots log10 of
 * the values (learning rates span decades). */
static void curve_panel(mgc_sbuf *b, const mgc_curves *cv, double x0, double y0, const char *title,
                        const series *sr, int ns, int log_scale, int best) {
  enum { MAXS = 3 };
  const double PW = 270, PH = 170;
  const double *ep = cv->v[C_EPOCH];
  const int n = cv->n;
  char buf[64];
  double *ys[MAXS] = {NULL, NULL, NULL};
  double lo = 0, hi = 0;
  int any = 0;
  if (ns > MAXS) ns = MAXS;
  for (int s = 0; s < ns; s++) {
    if (sr[s].col < 0 || !cv->has[sr[s].col]) continue;
    if (!(ys[s] = malloc((size_t)n * sizeof *ys[s]))) {
      b->oom = 1;
      break;
    }
    for (int i = 0; i < n; i++) {
      double v = cv->v[sr[s].col][i];
      ys[s][i] = log_scale ? (v > 0 ? log10(v) : NAN) : v;
    }
    double a = 0, z = 0;
    if (finite_range(ys[s], n, &a, &z)) {
      if (!any || a < lo) lo = a;
      if (!any || z > hi) hi = z;
      any = 1;
    }
  }
  mgc_svg_text(b, x0, y0 + 8, "start", 0, 13, NULL, title, 0);
  if (!any || b->oom) {
    mgc_svg_text(b, x0 + 46 + PW / 2, y0 + 40 + PH / 2, "middle", 0, FONT, "#888", "no values", 0);
    for (int s = 0; s < MAXS; s++) free(ys[s]);
    return;
  }
  const double px = x0 + 46, py = y0 + 40;
  double step;
  if (log_scale) {
    lo = floor(lo);
    hi = ceil(hi);
    if (hi <= lo) hi = lo + 1;
    step = hi - lo > 6 ? 2 : 1;
  } else {
    if (hi - lo < 1e-12) {
      double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 0.5;
      lo -= pad;
      hi += pad;
    }
    step = mgc_svg_nice_step(hi - lo, 5);
    lo = floor(lo / step + 1e-9) * step;
    hi = ceil(hi / step - 1e-9) * step;
  }
  double e0 = ep[0], e1 = ep[0];
  finite_range(ep, n, &e0, &e1);
  if (e1 <= e0) {
    e0 -= 1;
    e1 += 1;
  }
  double xstep = mgc_svg_nice_step(e1 - e0, 6);
  if (xstep < 1) xstep = 1; /* epochs are whole numbers */
#define XP(e) (px + ((e) - e0) / (e1 - e0) * PW)
#define YP(v) (py + PH - ((v) - lo) / (hi - lo) * PH)
  mgc_svg_y_axis(b, px, py, PW, PH, lo, hi, step, log_scale);
  mgc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n", px,
            py + PH, px + PW, py + PH);
  for (double e = ceil(e0 / xstep) * xstep; e <= e1 + 1e-9; e += xstep) {
    double x = XP(e);
    mgc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n",
              x, py + PH, x, py + PH + 4);
    snprintf(buf, sizeof buf, "%g", e);
    mgc_svg_text(b, x, py + PH + 14, "middle", 0, 10, "#444", buf, 0);
  }
  mgc_svg_text(b, px + PW / 2, py + PH + 30, "middle", 0, 11, "#444", "epoch", 0);
  if (best >= 0) {
    double x = XP(ep[best]);
    mgc_sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999999\" "
              "stroke-dasharray=\"3 3\"><title>lowest validation loss: epoch %g</title></line>\n",
              x, py, x, py + PH, ep[best]);
    mgc_svg_text(b, x + 3, py + 6, "start", 0, 9, "#888", "best", 0);
  }
  double lx = px + 4;
  for (int s = 0; s < ns; s++) {
    if (!ys[s]) continue;
    const char *dash = sr[s].dashed ? " stroke-dasharray=\"5 3\"" : "";
    /* Polyline per run of finite points: a missing value is a gap, not a
     * line to zero. Dots as well while they stay apart, so a run of one
     * epoch is still visible. */
    int in_run = 0;
    for (int i = 0; i <= n; i++) {
      int ok = i < n && isfinite(ys[s][i]) && isfinite(ep[i]);
      if (ok && !in_run) {
        mgc_sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s points=\"",
                  sr[s].colour, dash);
        in_run = 1;
      }
      if (ok) mgc_sb_printf(b, "%.1f,%.1f ", XP(ep[i]), YP(ys[s][i]));
      if (!ok && in_run) {
        mgc_sb_puts(b, "\"/>\n");
        in_run = 0;
      }
    }
    if (n <= 40 && !sr[s].dashed)
      for (int i = 0; i < n; i++)
        if (isfinite(ys[s][i]))
          mgc_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\"/>\n", XP(ep[i]),
                    YP(ys[s][i]), sr[s].colour);
    if (!sr[s].label) continue;
    mgc_sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
              "stroke-width=\"2\"%s/>\n",
              lx, y0 + 26, lx + 18, y0 + 26, sr[s].colour, dash);
    mgc_svg_text(b, lx + 22, y0 + 26, "start", 0, 11, NULL, sr[s].label, 0);
    lx += 34 + mgc_sb_cp_count(sr[s].label) * 11 * CHAR_W;
  }
#undef XP
#undef YP
  for (int s = 0; s < MAXS; s++) free(ys[s]);
}

void mgc_svg_curves(mgc_sbuf *b, const mgc_curves *cv, int standalone) {
  int best = -1;
  if (cv->has[C_VL])
    for (int i = 0; i < cv->n; i++)
      if (isfinite(cv->v[C_VL][i]) && (best < 0 || cv->v[C_VL][i] < cv->v[C_VL][best])) best = i;
  double lo = 0, hi = 0;
  int with_lr = cv->has[C_LR] && finite_range(cv->v[C_LR], cv->n, &lo, &hi);
  /* Learning rates that change by more than 10x read better in decades. */
  int lr_log = with_lr && lo > 0 && hi / lo > 10;
  const double PANEL = 340;
  const double W = PANEL * (with_lr ? 3 : 2) + 10, H = 300;
  mgc_svg_open(b, standalone, W, H, "Learning curves");
  mgc_svg_title(b, 10, 22, "Learning curves");
  const series loss[2] = {{C_TL, MGC_SVG_COL_TRAIN, "train", 0}, {C_VL, MGC_SVG_COL_VAL, "validation", 0}};
  const series acc[3] = {{C_TA, MGC_SVG_COL_TRAIN, "train", 0},
                         {C_VA, MGC_SVG_COL_VAL, "validation", 0},
                         {C_VT, MGC_SVG_COL_VAL, "val. tracks", 1}};
  const series lr[1] = {{C_LR, MGC_SVG_COL_TRAIN, NULL, 0}};
  curve_panel(b, cv, 10, 40, "loss", loss, 2, 0, best);
  curve_panel(b, cv, 10 + PANEL, 40, "accuracy", acc, 3, 0, best);
  if (with_lr) curve_panel(b, cv, 10 + 2 * PANEL, 40, "learning rate", lr, 1, lr_log, -1);
  mgc_sb_puts(b, "</svg>\n");
}
