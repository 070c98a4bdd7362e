// Package schemas holds the messages that travel between hookrelay's stages
// (the event envelope, the delivery, the dead letter), the Microsoft Teams card
// types, and the JSON Schemas that tests validate them against.
//
// The stages never import one another: they agree on these types and on the
// queue subjects in internal/queue.
package schemas
