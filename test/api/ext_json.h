/* ext_json.h: a small strict JSON parser (RFC 8259) for checking malloc_stats_print's JSON:
 * objects, arrays, strings (with every escape, \u included, and no raw control characters),
 * numbers in JSON's exact grammar, true, false and null; nothing but white space may follow the
 * value.  Parsing builds a tree; json_get() finds an object's member.  Test code only: it
 * allocates with malloc and frees the tree with json_free(). */
#ifndef HM_EXT_JSON_H
#define HM_EXT_JSON_H

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type_t;

typedef struct json {
    json_type_t type;
    bool b;
    char *text;          /* number: its source text; string: the decoded value (UTF-8) */
    size_t n;            /* members or elements */
    char **keys;         /* object member names (decoded) */
    struct json **items; /* members or elements */
} json_t;

typedef struct {
    const char *s;
    size_t pos, len;
    char err[160];
} json_parser_t;

static json_t *json_value(json_parser_t *p, int depth);

static void json_free(json_t *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
    free(v);
}

static bool json_fail(json_parser_t *p, const char *what)
{
    if (p->err[0] == '\0')
        snprintf(p->err, sizeof p->err, "%s at offset %zu", what, p->pos);
    return false;
}

static void json_ws(json_parser_t *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static json_t *json_new(json_type_t t)
{
    json_t *v = calloc(1, sizeof *v);
    if (v)
        v->type = t;
    return v;
}

static bool json_push(json_t *v, char *key, json_t *item)
{
    json_t **items = realloc(v->items, (v->n + 1) * sizeof *items);
    if (items == NULL)
        return false;
    v->items = items;
    if (v->type == JSON_OBJECT) {
        char **keys = realloc(v->keys, (v->n + 1) * sizeof *keys);
        if (keys == NULL)
            return false;
        v->keys = keys;
        v->keys[v->n] = key;
    }
    v->items[v->n++] = item;
    return true;
}

static int json_hex4(json_parser_t *p)
{
    int v = 0;
    if (p->len - p->pos < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static size_t json_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string starting at the opening quote; the decoded value in *out (malloc'ed). */
static bool json_string(json_parser_t *p, char **out)
{
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return json_fail(p, "expected a string");
    p->pos++;
    /* The decoded text is never longer than its source, which ends at an unescaped quote. */
    size_t end = p->pos;
    while (end < p->len && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    char *buf = malloc((end < p->len ? end : p->len) - p->pos + 1);
    size_t n = 0;
    if (buf == NULL)
        return json_fail(p, "out of memory");
    for (;;) {
        if (p->pos >= p->len) {
            free(buf);
            return json_fail(p, "unterminated string");
        }
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c == '"')
            break;
        if (c < 0x20) {
            free(buf);
            return json_fail(p, "raw control character in a string");
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            continue;
        }
        if (p->pos >= p->len) {
            free(buf);
            return json_fail(p, "unterminated escape");
        }
        char e = p->s[p->pos++];
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            int cp = json_hex4(p);
            if (cp < 0) {
                free(buf);
                return json_fail(p, "bad \\u escape");
            }
            uint32_t code = (uint32_t)cp;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                int lo = -1;
                if (p->len - p->pos >= 2 && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
                    p->pos += 2;
                    lo = json_hex4(p);
                }
                if (lo < 0xdc00 || lo > 0xdfff) {
                    free(buf);
                    return json_fail(p, "lone high surrogate");
                }
                code = 0x10000 + (((uint32_t)cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                free(buf);
                return json_fail(p, "lone low surrogate");
            }
            n += json_utf8(buf + n, code);
            break;
        }
        default:
            free(buf);
            return json_fail(p, "bad escape");
        }
    }
    buf[n] = '\0';
    *out = buf;
    return true;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static json_t *json_number(json_parser_t *p)
{
    size_t start = p->pos;
    const char *s = p->s;
#define JSON_DIGIT(i) ((i) < p->len && s[i] >= '0' && s[i] <= '9')
    if (p->pos < p->len && s[p->pos] == '-')
        p->pos++;
    if (p->pos < p->len && s[p->pos] == '0')
        p->pos++;
    else if (JSON_DIGIT(p->pos))
        while (JSON_DIGIT(p->pos))
            p->pos++;
    else
        return json_fail(p, "bad number"), NULL;
    if (p->pos < p->len && s[p->pos] == '.') {
        p->pos++;
        if (!JSON_DIGIT(p->pos))
            return json_fail(p, "no digits after the decimal point"), NULL;
        while (JSON_DIGIT(p->pos))
            p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
            p->pos++;
        if (!JSON_DIGIT(p->pos))
            return json_fail(p, "no digits in the exponent"), NULL;
        while (JSON_DIGIT(p->pos))
            p->pos++;
    }
#undef JSON_DIGIT
    /* Not strndup: the C library's would allocate from its own malloc, which json_free does not
     * free in a namespaced build (there, malloc and free here are hm_malloc and hm_free). */
    size_t n = p->pos - start;
    json_t *v = json_new(JSON_NUMBER);
    if (v == NULL || (v->text = malloc(n + 1)) == NULL) {
        json_free(v);
        return json_fail(p, "out of memory"), NULL;
    }
    memcpy(v->text, s + start, n);
    v->text[n] = '\0';
    return v;
}

static bool json_word(json_parser_t *p, const char *w)
{
    size_t l = strlen(w);
    if (p->len - p->pos >= l && memcmp(p->s + p->pos, w, l) == 0) {
        p->pos += l;
        return true;
    }
    return false;
}

static json_t *json_container(json_parser_t *p, int depth, bool object)
{
    json_t *v = json_new(object ? JSON_OBJECT : JSON_ARRAY);
    if (v == NULL)
        return json_fail(p, "out of memory"), NULL;
    p->pos++; /* { or [ */
    json_ws(p);
    char close = object ? '}' : ']';
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        json_ws(p);
        if (object) {
            if (!json_string(p, &key))
                goto fail;
            json_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(key);
                json_fail(p, "expected ':'");
                goto fail;
            }
            p->pos++;
        }
        json_t *item = json_value(p, depth + 1);
        if (item == NULL || !json_push(v, key, item)) {
            free(key);
            json_free(item);
            json_fail(p, "bad member");
            goto fail;
        }
        json_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return v;
        }
        json_fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
        goto fail;
    }
fail:
    json_free(v);
    return NULL;
}

static json_t *json_value(json_parser_t *p, int depth)
{
    if (depth > 64)
        return json_fail(p, "nested too deep"), NULL;
    json_ws(p);
    if (p->pos >= p->len)
        return json_fail(p, "expected a value"), NULL;
    char c = p->s[p->pos];
    json_t *v;
    switch (c) {
    case '{':
        return json_container(p, depth, true);
    case '[':
        return json_container(p, depth, false);
    case '"':
        v = json_new(JSON_STRING);
        if (v == NULL || !json_string(p, &v->text)) {
            json_free(v);
            return json_fail(p, "bad string"), NULL;
        }
        return v;
    case 't':
    case 'f':
    case 'n':
        if (json_word(p, "true") || json_word(p, "false")) {
            v = json_new(JSON_BOOL);
            if (v)
                v->b = c == 't';
            return v;
        }
        if (json_word(p, "null"))
            return json_new(JSON_NULL);
        return json_fail(p, "bad literal"), NULL;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return json_number(p);
        return json_fail(p, "unexpected character"), NULL;
    }
}

/* Parse a whole document; NULL with a message in err on error. */
static json_t *json_parse(const char *s, size_t len, char *err, size_t errlen)
{
    json_parser_t p = {.s = s, .pos = 0, .len = len, .err = ""};
    json_t *v = json_value(&p, 0);
    if (v != NULL) {
        json_ws(&p);
        if (p.pos != p.len) {
            json_fail(&p, "text after the value");
            json_free(v);
            v = NULL;
        }
    }
    if (v == NULL && err != NULL)
        snprintf(err, errlen, "%s", p.err[0] ? p.err : "invalid");
    return v;
}

/* The member `key` of an object, or NULL. */
static json_t *json_get(const json_t *obj, const char *key)
{
    if (obj == NULL || obj->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

/* A number that is a non-negative integer, in *out; false otherwise. */
static bool json_uint(const json_t *v, unsigned long long *out)
{
    if (v == NULL || v->type != JSON_NUMBER || v->text[0] == '-')
        return false;
    for (const char *c = v->text; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    char *end;
    *out = strtoull(v->text, &end, 10);
    return *end == '\0';
}

#endif /* HM_EXT_JSON_H */
