#include "mgc/nn/schedule.h"

#include <math.h>
#include <string.h>

void mgc_schedule_init(mgc_schedule *s, mgc_schedule_kind kind, double base_lr) {
  memset(s, 0, sizeof *s);
  s->kind = kind;
  s->base_lr = s->lr = base_lr;
  s->step_size = 10;
  s->gamma = 0.1;
  s->patience = 5;
  s->factor = 0.1;
  s->threshold = 1e-4;
  s->total_epochs = 50;
  s->best = INFINITY;
}

int mgc_schedule_kind_from_name(const char *name) {
  static const char *names[] = {"constant", "step", "plateau", "cosine"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, names[i])) return i;
  return -1;
}

double mgc_schedule_lr(mgc_schedule *s, int epoch, double last_val_loss) {
  switch (s->kind) {
  case MGC_SCHED_STEP:
    s->lr = s->base_lr * pow(s->gamma, (double)(epoch / (s->step_size > 0 ? s->step_size : 1)));
    break;
  case MGC_SCHED_COSINE: {
    int t = epoch < s->total_epochs ? epoch : s->total_epochs;
    double T = s->total_epochs > 0 ? s->total_epochs : 1;
    s->lr = s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * t / T));
    break;
  }
  case MGC_SCHED_PLATEAU:
    if (!isnan(last_val_loss)) {
      if (last_val_loss < s->best * (1.0 - s->threshold)) {
        s->best = last_val_loss;
        s->bad_epochs = 0;
      } else {
        s->bad_epochs++;
      }
      if (s->cooldown_left > 0) {
        s->cooldown_left--;
        s->bad_epochs = 0;
      }
      if (s->bad_epochs > s->patience) {
        double nl = s->lr * s->factor;
        s->lr = nl > s->min_lr ? nl : s->min_lr;
        s->cooldown_left = s->cooldown;
        s->bad_epochs = 0;
      }
    }
    break;
  default:
    s->lr = s->base_lr;
  }
  return s->lr;
}
