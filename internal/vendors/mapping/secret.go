package mapping

import "strings"

// Masked replaces the value of a field whose name says it is a secret.
const Masked = "•••••• (hidden: the field's name says it is a secret)"

// SecretName reports whether a field's name says its value is a secret, so
// a card must not show it.
func SecretName(name string) bool {
	n := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', ' ', '.':
			return -1
		}
		return r
	}, strings.ToLower(name))
	// What a name says when its value is a credential, compared in lower
	// case without '-', '_', '.' or spaces: Slack's verification "token",
	// "client_secret", "password", "api_key", "Authorization", "signature".
	for _, w := range [...]string{"token", "secret", "password", "passwd", "apikey", "authorization", "signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
