"""SQLAlchemy models, one module per concept: the hand-off and its log (`handoffs`), the
outbound ledger and process coordination (`ledger`), agencies (`agencies`), people
(`access`), the desk's paperwork (`paper`), counters (`metrics`). Importing the package
registers every table on `Base.metadata` (Alembic and the tests read it there)."""

from worker.db.clock import utcnow as utcnow  # every stamp on the server's clock
from worker.db.models.access import ApiToken as ApiToken
from worker.db.models.access import LoginAttempt as LoginAttempt
from worker.db.models.access import User as User
from worker.db.models.access import WebSession as WebSession
from worker.db.models.agencies import Agency as Agency
from worker.db.models.agencies import AgencySetting as AgencySetting
from worker.db.models.agencies import CarrierArea as CarrierArea
from worker.db.models.agencies import CarrierAreaTable as CarrierAreaTable
from worker.db.models.agencies import DeploymentMark as DeploymentMark
from worker.db.models.agencies import RateBucket as RateBucket
from worker.db.models.base import Base as Base
from worker.db.models.base import UTCDateTime as UTCDateTime
from worker.db.models.handoffs import CarrierPushReceipt as CarrierPushReceipt
from worker.db.models.handoffs import Handoff as Handoff
from worker.db.models.handoffs import Receipt as Receipt
from worker.db.models.handoffs import SlaBreach as SlaBreach
from worker.db.models.handoffs import StatusLogEntry as StatusLogEntry
from worker.db.models.ledger import Attempt as Attempt
from worker.db.models.ledger import Cursor as Cursor
from worker.db.models.ledger import Heartbeat as Heartbeat
from worker.db.models.ledger import Job as Job
from worker.db.models.ledger import Lease as Lease
from worker.db.models.metrics import MetricCount as MetricCount
from worker.db.models.metrics import MetricDelta as MetricDelta
from worker.db.models.paper import CodLedger as CodLedger
from worker.db.models.paper import HandoverRecord as HandoverRecord
from worker.db.models.paper import HandoverRecordItem as HandoverRecordItem
