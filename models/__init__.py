"""The value-chain data model: need -> objective -> activity -> output -> outcome, with costs.

One module per aggregate. Every domain row belongs to an :class:`Organisation`; several
organisations can share one database. Integrity lives in the database (foreign keys, unique keys,
check constraints) as well as in code.
"""

from models.action_plan import (
    ACTION_STATUSES,
    MILESTONE_STATES,
    ActionMilestone,
    ActionPlan,
    ActionUpdate,
    action_plan_activities,
    action_plan_indicators,
    action_plan_needs,
)
from models.activity import Activity, ActivityDelivery, ActivityNeedCoverage, ActivityVolume, Service
from models.audit import AuditEntry
from models.base import Base
from models.benchmark import BenchmarkRefresh, BenchmarkValue
from models.cost import (
    COSTING_METHODS,
    DOCUMENT_TYPES,
    DRIVER_KINDS,
    AccountingFunction,
    BudgetDocument,
    CostAllocation,
    CostCentre,
    CostDriverQuantity,
    CostKey,
    CostLine,
    ImportMapping,
)
from models.enums import (
    ActivityKind,
    CostKind,
    Direction,
    EvidenceKind,
    Frequency,
    IndicatorType,
    MeasurementState,
    Nomenclature,
    ObjectiveLevel,
    ObjectiveStatus,
    OrganisationKind,
    PartnerType,
    PeriodKind,
    PeriodState,
    Perspective,
    Role,
    ScenarioState,
    ServiceKind,
    TerritoryKind,
    ThresholdMode,
)
from models.indicator import Indicator, Measurement, Period, Target
from models.job import JobRun
from models.need import Need, NeedEvidence, NeedObservation, PopulationGroup
from models.notification import NOTIFICATION_KINDS, Notification, NotificationPreference
from models.objective import Objective, ObjectiveLink, objective_activities, objective_needs
from models.organisation import Organisation
from models.report import ReportText
from models.review import Review, ReviewAction
from models.scenario import Scenario, ScenarioActivityResult, ScenarioNeedResult
from models.security import LoginFailure
from models.survey import (
    QUESTION_KINDS,
    RESPONSE_CHANNELS,
    SURVEY_ACCESS,
    SURVEY_KINDS,
    SURVEY_STATES,
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    SurveyStart,
)
from models.task import TASK_STATES, Task
from models.territory import Territory, TerritoryStatistic
from models.user import User, user_services

__all__ = [
    "ACTION_STATUSES",
    "COSTING_METHODS",
    "DOCUMENT_TYPES",
    "DRIVER_KINDS",
    "MILESTONE_STATES",
    "NOTIFICATION_KINDS",
    "QUESTION_KINDS",
    "RESPONSE_CHANNELS",
    "SURVEY_ACCESS",
    "SURVEY_KINDS",
    "SURVEY_STATES",
    "TASK_STATES",
    "AccountingFunction",
    "ActionMilestone",
    "ActionPlan",
    "ActionUpdate",
    "Activity",
    "ActivityDelivery",
    "ActivityKind",
    "ActivityNeedCoverage",
    "ActivityVolume",
    "AuditEntry",
    "Base",
    "BenchmarkRefresh",
    "BenchmarkValue",
    "BudgetDocument",
    "CostAllocation",
    "CostCentre",
    "CostDriverQuantity",
    "CostKey",
    "CostKind",
    "CostLine",
    "Direction",
    "EvidenceKind",
    "Frequency",
    "ImportMapping",
    "Indicator",
    "IndicatorType",
    "JobRun",
    "LoginFailure",
    "Measurement",
    "MeasurementState",
    "Need",
    "NeedEvidence",
    "NeedObservation",
    "Nomenclature",
    "Notification",
    "NotificationPreference",
    "Objective",
    "ObjectiveLevel",
    "ObjectiveLink",
    "ObjectiveStatus",
    "Organisation",
    "OrganisationKind",
    "PartnerType",
    "Period",
    "PeriodKind",
    "PeriodState",
    "Perspective",
    "PopulationGroup",
    "ReportText",
    "Review",
    "ReviewAction",
    "Role",
    "Scenario",
    "ScenarioActivityResult",
    "ScenarioNeedResult",
    "ScenarioState",
    "Service",
    "ServiceKind",
    "Survey",
    "SurveyAnswer",
    "SurveyInvitation",
    "SurveyQuestion",
    "SurveyResponse",
    "SurveyStart",
    "Target",
    "Task",
    "Territory",
    "TerritoryKind",
    "TerritoryStatistic",
    "ThresholdMode",
    "User",
    "action_plan_activities",
    "action_plan_indicators",
    "action_plan_needs",
    "objective_activities",
    "objective_needs",
    "user_services",
]
