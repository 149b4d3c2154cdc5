/* Softmax cross-entropy, fused with the softmax for numerical stability. */
#ifndef MGC_LOSS_H
#define MGC_LOSS_H

/* Mean softmax cross-entropy of logits [batch, classes], exactly as
 * torch.nn.CrossEntropyLoss(weight=class_weights, label_smoothing=smoothing)
 * with reduction 'mean'. Targets are class indices (`labels`) or, when
 * labels is NULL, probability rows `targets` [batch, classes] (mixup).
 * class_weights may be NULL (all ones). Writes dL/dlogits when dlogits is
 * not NULL and the probabilities when probs is not NULL. Returns the loss. */
double mgc_softmax_ce(const float *logits, int batch, int classes, const int *labels,
                      const float *targets, const float *class_weights, float smoothing,
                      float *dlogits, float *probs);

#endif
