"""The API's display texts in Simplified Chinese (`Accept-Language: zh-CN`, see `language.py`).

English texts stay where they are made (the catalog's names, the errors' messages); this module
maps what identifies a text (a method id, a plan id, an error code, or one of our fixed English
sentences) to its Chinese one. Codes, ids, enum values and `details` never change with the
language; the messages inside `details` stay English (they come from the validation library, and
a frontend shows its own text per field).

An error's Chinese `message` is the sentence of its exact English message when that sentence is a
fixed one of ours (`MESSAGES`), else the sentence of its code (`ERROR_MESSAGES`): messages that
name a value (an id, a limit) get their code's general sentence.
"""
from __future__ import annotations

from entrypoints.http.body import MAX_DEPTH
from entrypoints.http.language import ENGLISH

METHOD_NAMES = {
    "wechat_pay": "微信支付",
    "alipay": "支付宝",
    "credit_card": "银行卡",
    "mock": "模拟支付",
}

PLAN_NAMES = {
    "basic": "基础版",
    "pro": "专业版",
    "vip": "VIP 会员",
}

# One sentence per error code of the contract (and `internal_error`).
ERROR_MESSAGES = {
    "malformed_json": "请求体不是有效的 JSON 对象。",
    "unauthorized": "需要有效的 Bearer 访问令牌。",
    "forbidden": "您的角色无权执行此操作。",
    "not_found": "对象不存在，或不属于您。",
    "method_not_allowed": "此地址不支持该请求方法。",
    "invalid_state": "该交易或会话的当前状态不允许此操作，未做任何更改。",
    "plan_unchanged": "您已在使用该套餐，且没有待生效的变更。",
    "too_many_pending": "待支付的交易过多：请先支付或取消其中一笔。",
    "idempotency_request_in_progress": "使用此 Idempotency-Key 的请求仍在处理中，请稍后重试。",
    "insufficient_receives": "余额不足，未扣除任何次数。",
    "payload_too_large": "请求体过大。",
    "unsupported_media_type": "不支持该请求内容类型。",
    "validation_error": "请求无效：各字段的问题见 details。",
    "idempotency_key_reused": "此 Idempotency-Key 已用于另一个请求体。",
    "payment_method_unavailable": "该支付方式暂不可用，请选择其他支付方式。",
    "rate_limited": "请求过于频繁，请稍后再试。",
    "risk_declined": "出于风控原因，此次支付被拒绝。",
    "provider_error": "支付服务商拒绝或处理失败，不会重复扣款。请重试或选择其他支付方式。",
    "provider_unavailable": "支付服务商暂时无法响应，不会重复扣款。请稍后再试。",
    "refund_not_found": "支付服务商没有这笔退款的记录。",
    "internal_error": "服务器内部出错，已记录日志。",
}

# Our fixed English sentences that say more than their code's general one.
MESSAGES = {
    "There is nothing at this address.": "此地址没有内容。",
    "The body must be a JSON object.": "请求体必须是 JSON 对象。",
    f"The body is not valid JSON (or nests deeper than {MAX_DEPTH} levels).":
        f"请求体不是有效的 JSON（或嵌套超过 {MAX_DEPTH} 层）。",
    "The request line or its headers could not be parsed.": "请求行或请求头无法解析。",
    "The request body is too large.": "请求体过大。",
    "A valid bearer token is required.": "需要有效的 Bearer 访问令牌。",
    "The bearer token is missing, expired or invalid.": "Bearer 访问令牌缺失、已过期或无效。",
    "The bearer token lives too long (its exp is too far ahead).": "Bearer 访问令牌的有效期过长（exp 过远）。",
    "The bearer token has no valid subject.": "Bearer 访问令牌没有有效的 sub。",
    "The bearer token's role is not a string.": "Bearer 访问令牌的 role 不是字符串。",
    "Use the Bearer authorization scheme.": "请使用 Bearer 认证方式。",
    "The request is invalid.": "请求无效：各字段的问题见 details。",
}

METHOD_NOT_ALLOWED = "此地址不支持该请求方法（允许：{allowed}）。"


def error_message(code: str, message: str, language: str) -> str:
    """The `message` of an error `code` whose English message is `message`, in `language`
    (an unknown code keeps its English message)."""
    if language == ENGLISH:
        return message
    return MESSAGES.get(message) or ERROR_MESSAGES.get(code, message)


def method_name(method_id: str, name: str, language: str) -> str:
    return name if language == ENGLISH else METHOD_NAMES.get(method_id, name)


def plan_name(plan_id: str, name: str, language: str) -> str:
    return name if language == ENGLISH else PLAN_NAMES.get(plan_id, name)
