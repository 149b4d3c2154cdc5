/* An inference session: one model, planned once for batches of up to
 * max_batch samples, then run any number of times without allocating (the
 * real-time path of the daemon).
 *
 * The session builds its own copy of the model's net, so sessions are
 * independent of each other (one per thread) and of later changes to the
 * model; the model must outlive the session (its statistics are read). */
#ifndef MGC_SESSION_H
#define MGC_SESSION_H

#include "mgc/util/error.h"
#include "mgc/model/model.h"

typedef struct mgc_session mgc_session;

/* Plan for batches of 1..max_batch samples. Refuses a model whose
 * standardisation statistics do not match its input's band axis. */
mgc_status mgc_session_new(const mgc_model *m, int max_batch, mgc_session **out);

/* x: `batch` raw samples of the model's input shape, batch-major. Applies
 * the model's per-band standardisation (mgc/model/model.h), runs the net and
 * writes [batch, n_classes] probabilities. Never allocates. */
mgc_status mgc_session_run(mgc_session *s, const float *x, int batch, float *probs);

int mgc_session_max_batch(const mgc_session *s);
const mgc_model *mgc_session_model(const mgc_session *s);

void mgc_session_free(mgc_session *s);

#endif
