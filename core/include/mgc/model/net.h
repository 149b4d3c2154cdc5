/* A network: the layers of an architecture, their activations, gradients
 * and scratch. Memory is planned once per batch size (mgc_net_plan); the
 * forward and backward calls then never allocate.
 *
 * The net's "logits" are the output of the last layer before a trailing
 * softmax or sigmoid (or of the last layer when there is none): training
 * pairs them with the fused softmax cross-entropy loss (a sigmoid head, a
 * multi-label tagger, is refused there), inference applies the head: a
 * softmax (also when there is no head layer) or the sigmoid, whose tag
 * probabilities are independent and are returned as they are. */
#ifndef MGC_NET_H
#define MGC_NET_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/model/arch.h"
#include "mgc/nn/layer.h"

typedef struct mgc_net mgc_net;

/* Build every layer with shape inference. n_classes replaces the word
 * 'classes' in layer options (0: the architecture's own 'classes'). Weights
 * are initialised as PyTorch does, from `seed`. Errors say
 * file:line:column of the offending layer option. */
mgc_status mgc_net_new(const mgc_arch *arch, int n_classes, uint64_t seed, mgc_net **out);
void mgc_net_free(mgc_net *net);

int mgc_net_n_layers(const mgc_net *net);
mgc_layer *mgc_net_layer(const mgc_net *net, int i);
mgc_shape mgc_net_input_shape(const mgc_net *net);
/* Per-sample shape of the logits / probabilities. */
mgc_shape mgc_net_output_shape(const mgc_net *net);
int mgc_net_n_classes(const mgc_net *net);

/* Every tensor (trainable parameters and buffers), in layer order. */
int mgc_net_n_params(const mgc_net *net);
mgc_param *mgc_net_param(const mgc_net *net, int i);
mgc_param *mgc_net_find_param(const mgc_net *net, const char *name);
/* Number of trainable scalars. */
size_t mgc_net_param_count(const mgc_net *net);

/* Allocate activations (and, for training, gradients and caches) for
 * batches of up to max_batch samples. Re-planning to a size that fits
 * keeps the buffers. */
mgc_status mgc_net_plan(mgc_net *net, int max_batch, int training);
int mgc_net_planned_batch(const mgc_net *net);
/* Bytes held by the plan (activations, gradients, caches, scratch). */
size_t mgc_net_plan_bytes(const mgc_net *net);

/* Logits for `batch` samples of x (batch-major). training=1 uses batch
 * statistics and dropout and keeps what backward needs (requires a
 * training plan). Returns NULL (with a message) when the batch does not
 * fit the plan. The result is valid until the next call. Never allocates. */
const float *mgc_net_forward(mgc_net *net, const float *x, int batch, int training);

/* Probabilities in inference mode: softmax of the logits, or a sigmoid
 * head's independent tag probabilities. */
const float *mgc_net_predict(mgc_net *net, const float *x, int batch);

/* Fine-tuning with a frozen body: the first n_layers layers run as at
 * inference also in a training forward (batchnorm on its running
 * statistics, no dropout), as a frozen network is used; backward stops
 * above them. Clamped to the layers before the output. adapt_batchnorm:
 * their batchnorms normalise with the batch's statistics instead and move
 * their running statistics to the new data, weights still frozen (AdaBN:
 * Li et al. 2016, "Revisiting Batch Normalization for Practical Domain
 * Adaptation"). */
void mgc_net_set_frozen(mgc_net *net, int n_layers, int adapt_batchnorm);
int mgc_net_frozen(const mgc_net *net);

/* mgc_net_forward from layer `first` (<= the frozen count; a training
 * plan) on x, the output of layer first-1 as an earlier forward computed
 * it: the frozen layers' outputs computed once stand for them in every
 * epoch. */
const float *mgc_net_forward_from(mgc_net *net, int first, const float *x, int batch,
                                  int training);

/* Inference up to and including layer `last`: its output (an embedding),
 * valid until the next call. Refused for a layer an inference plan fuses
 * with the next (its output is never held). */
const float *mgc_net_forward_to(mgc_net *net, const float *x, int batch, int last);

/* Back-propagate dL/dlogits of the last training forward; overwrites every
 * trainable parameter's grad (a frozen layer's is left alone); writes dL/dx
 * when dx is not NULL (refused when layers are frozen). */
mgc_status mgc_net_backward(mgc_net *net, const float *dlogits, float *dx);

/* Restart the random streams of dropout layers. */
void mgc_net_reseed(mgc_net *net, uint64_t seed);

#endif
