// Package reconcile runs a controller's work queue: it waits for the
// informer caches, starts workers that hand each key to the controller's
// sync function, retries failed keys with the queue's rate limiter and
// forgets the ones that succeeded, and shuts the queue down when the
// context ends. A sync never touches the queue itself: it returns a
// Result whose RequeueAfter brings the key back at a moment no event
// marks (minReadySeconds, a deadline, a back-off), or a Terminal error
// for a key no retry can mend. Event handlers only enqueue keys; the helpers here turn
// informer events into keys.
package reconcile
