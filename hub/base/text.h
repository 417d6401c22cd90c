/* text.h - bytes from the network made fit to be text.
 *
 * PostgreSQL's text columns and protobuf's string fields accept valid UTF-8
 * only: one invalid byte quoted into a reason, a rejected_event row or an
 * ERROR makes the insert fail (and with it the transaction it rides in) or
 * the peer's parser refuse the whole message. Whatever a sender said is
 * checked with text_valid before it is used as text, or written through
 * text_clean, which cannot produce anything else. */
#ifndef JOINERY_TEXT_H
#define JOINERY_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* LEN bytes of IN are well-formed UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF, which PostgreSQL refuses) without C0 control
 * characters or DEL, NUL included. */
bool text_valid(const void *in, size_t len);

/* LEN bytes of IN are well-formed UTF-8, control characters allowed: what a
 * protobuf string field may hold. */
bool text_utf8(const void *in, size_t len);

/* Writes LEN bytes of IN into OUT (CAP > 0 bytes) as text: well-formed UTF-8
 * is copied, every other byte, control character or DEL is written as the
 * four characters \xNN. What does not fit is left off at a character
 * boundary, never half a character or half an escape. OUT is always
 * NUL-terminated; returns its length. */
size_t text_clean(char *out, size_t cap, const void *in, size_t len);

#endif
