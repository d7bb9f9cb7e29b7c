"""What every `handoff agency` command shares: the runtime, one unit of work per change,
refusals told as "field: reason" (exit 2, never a traceback, never a credential), and the
fresh-database seed `handoff migrate` runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.cli.common import fail, prepare_embedded, runtime
from worker.domain.errors import InvalidInput
from worker.domain.text import safe_display
from worker.service.admin import agency_admin
from worker.service.agencies.vault import VaultError, WrongKey
from worker.service.ledger import uow
from worker.service.runtime import Runtime
from worker.settings import Settings

T = TypeVar("T")
KEY_HINT = ("HANDOFF_CREDENTIALS_KEY phải là một hoặc nhiều khóa Fernet, cách nhau bởi dấu "
            "phẩy (khóa đầu mã hóa, mọi khóa đều giải mã); `handoff secrets` tạo khóa mới")
WRONG_KEY = ("HANDOFF_CREDENTIALS_KEY sai: không mở được thông tin tài khoản nào đã lưu trong "
             "cơ sở dữ liệu này, nên chưa ghi gì. Dùng đúng khóa của worker và web; đổi khóa "
             "thì đặt HANDOFF_CREDENTIALS_KEY=KHÓA_MỚI,KHÓA_CŨ rồi chạy "
             "`handoff agency rotate-key`")


def runtime_of(ctx: click.Context) -> Runtime:
    """The runtime a caller handed in (tests: `invoke(agency, ..., obj=rt)`), else the
    process's own on the embedded default or HANDOFF_DATABASE_URL."""
    if isinstance(ctx.obj, Runtime):
        return ctx.obj
    prepare_embedded()
    return runtime()


def said(err: InvalidInput) -> str:
    """The field and the reason as one printable line (a field may be a file's key)."""
    text = f"{err.field}: {err.reason}" if err.field else err.reason
    return safe_display(text, max_len=1000)


def do(ctx: click.Context, work: Callable[[Session, Settings], T]) -> T:
    """`work` in one unit of work (posts it queues are rung after commit). A refusal is
    told as "field: reason" (exit 2, nothing stored); no value of a credential is in it."""
    rt = runtime_of(ctx)
    try:
        with uow.begin(rt) as session:
            return work(session, rt.settings)
    except InvalidInput as err:
        fail(said(err))
    except IntegrityError:  # the same agency added at the same moment by someone else
        fail("code: đơn vị vừa được thêm ở nơi khác; chạy lại lệnh")
    except WrongKey:
        fail(WRONG_KEY)
    except VaultError as err:
        fail(f"không mở được thông tin tài khoản đã lưu: {err}. {KEY_HINT}")


def seed_fresh_database() -> None:
    """After `handoff migrate`: a fresh database gets its agencies from HANDOFF_AGENCIES
    (and the ones its hand-offs name); later runs change nothing."""
    rt = runtime()
    try:
        with uow.begin(rt) as session:
            seeded = agency_admin.seed_if_fresh(session, rt.settings)
    except InvalidInput as err:
        fail(f"HANDOFF_AGENCIES: {said(err)}")
    if not seeded:
        click.echo("agencies: không thêm gì (danh sách đơn vị đã ở trong cơ sở dữ liệu, hoặc "
                   "HANDOFF_AGENCIES trống); `handoff agency import FILE` để nạp thêm")
        return
    click.echo(f"agencies: đã thêm {len(seeded)} đơn vị lần đầu: "
               + ", ".join(r.code for r in seeded))
