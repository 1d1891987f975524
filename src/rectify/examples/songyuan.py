"""The reference scenario: 松园社区党委's rectification after 罗湖区第四巡察组's inspection.

Everything the notice of 2026-03-12 states is here as data, written through the application as
a unit and an inspector would write it. What the notice does not state (the dates of single
clean-ups and trainings, responsibilities, acceptance dates, one internal item) is EXAMPLE DATA,
invented to be plausible: its actors are named "…（示例）" so that the log says so itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from rectify.access import Actor, Role
from rectify.application import RectifyApplication
from rectify.domain.values import DeadlineKind, Disclosure, NarrativeSection, RelapseOutcome, RulePeriod

UNIT = {
    "name": "中共深圳市罗湖区桂园街道松园社区委员会",
    "short_name": "松园社区党委",
    "address": "宝安南路 3029 号国速荟二楼 215-216",
    "phone": "25469657",
    "area_code": "0755",
    "postcode": "518000",
    "email": "lh_gyb@szlh.gov.cn",
    "postal_address": "深圳市罗湖区宝安南路国速荟 215-216 号",
}

ROUND: dict[str, Any] = {
    "authority": "区委",
    "district": "罗湖区",
    "team": "第四巡察组",
    "stationed_from": date(2025, 3, 26),
    "stationed_to": date(2025, 6, 13),
}
FEEDBACK_ON = date(2025, 8, 12)
REFERENCE_NOTICE_DATE = date(2026, 3, 12)
#: The notice itself, as published (the project's own copy; see reference/README.md).
REFERENCE_NOTICE = Path(__file__).parent / "reference" / "songyuan-notice-2026-03-12.md"
RECTIFICATION_UNTIL = date(2025, 11, 12)

CATEGORIES = [
    ((1,), "关于贯彻落实党的理论路线方针政策和上级决策部署，提升推进重点工作的能力和方式方面"),
    ((1, 2), "从严从实抓好消防安全管理"),
    ((2,), "关于纵深推进全面从严治党，落实主体责任方面"),
    ((2, 4), "加强民生微实事服务类项目审核"),
    ((3,), "扎实开展基层党组织和队伍建设工作"),
    ((3, 2), "严格规范党支部换届流程"),
]

RESPONSIBILITY_INTRO = (
    "桂园街道松园社区党委坚持以习近平新时代中国特色社会主义思想为指导，全面贯彻落实党的二十大和二十届历次全会精神，"
    "深入学习贯彻习近平总书记关于巡视工作的重要论述，传达区委书记听取巡察汇报时的讲话精神，自觉从坚定拥护“两个确立”、"
    "坚决做到“两个维护”的高度扛起巡察整改的政治责任，把巡察整改作为旗帜鲜明讲政治的具体行动，"
    "作为推进高质量发展和全面从严治党的有力抓手，全力抓好巡察整改各项工作。"
)
RESPONSIBILITY_ITEMS = [
    (
        "提高政治站位，压实主体责任。",
        "松园社区党委高度重视区委第四巡察组反馈的意见和指出的问题，第一时间召开专题会议，深入学习贯彻习近平总书记关于"
        "巡视工作的重要讲话和重要指示精神，传达区委书记听取巡察汇报时的讲话精神，坚持把巡察整改作为当前重要政治任务，"
        "不回避、不推诿，以高度负责的政治自觉和行动自觉，全面推进整改落实工作。同时将巡察反馈意见和领导讲话以会议通报的"
        "形式传达至各党支部，切实把思想和行动统一到区委决策部署上来。",
    ),
    (
        "坚持问题导向，强化部署落实。",
        "松园社区党委第一时间成立巡察整改工作领导小组，社区党委书记任组长。按要求出台整改落实工作方案，形成整改工作的"
        "任务书、路线图、时间表和责任制，并实施台账管理，整改到位一个、检查验收一个、对账销号一个，确保整改取得实效。"
        "松园社区党委召开巡察整改专题组织生活会，党委班子成员对照反馈意见，主动认领问题，深入查摆剖析，积极开展批评和"
        "自我批评，以刀刃内向的勇气和担当，深入推进巡察整改。",
    ),
    (
        "强化督促落实，确保整改实效。",
        "集中治理整改阶段，松园社区党委先后召开巡察发现问题整改专项工作会议、整改推进会等，听取整改进展情况汇报，"
        "研究部署巡察整改工作。同时坚持举一反三，把“当下改”和“长久立”相结合，进一步堵塞漏洞、健全制度，推动整改向"
        "“治病根”深化、向“治未病”转化，防止问题反弹。社区纪委充分发挥监督保障执行作用，定期开展监督检查，压实责任，"
        "确保问题按期保质整改到位。",
    ),
]

NEXT_STEPS_INTRO = "松园社区党委将再接再厉，继续准确把握区委关于整改工作的部署和要求，持之以恒抓落实、固成效。"
NEXT_STEPS_ITEMS = [
    (
        "加强思想认识，筑牢整改政治根基。",
        "压实主体责任，组织班子全体工作人员深入学习贯彻习近平总书记关于巡视工作的重要论述，提高思想认识。同时组织全体"
        "工作人员开展纪律教育会，通过案例教学强化政治纪律意识，保障整改工作顺利完成。",
    ),
    (
        "深化成果运用，推动长效机制建设。",
        "常态化开展整改回头看行动，举一反三，对同类问题开展横向排查，发现问题及时处理，防止问题“回潮”。",
    ),
    (
        "强化成果转化，推动工作提质增效。",
        "聚焦巡察反馈问题涉及的重点领域和关键环节，进一步理清工作思路、细化工作举措、压实工作责任，以整改促提升、"
        "以提升促发展。",
    ),
]


@dataclass
class Plan:
    """One finding of the notice, and the example course of its rectification."""

    category: tuple[int, ...]
    ordinal: int
    heading: str
    problem: str
    measures: list[str]
    department: str
    deadline: DeadlineKind = DeadlineKind.DATE
    disclosure: Disclosure = Disclosure.PUBLIC
    withholding_reason: str = ""
    amounts: list[tuple[str, str, str]] = field(default_factory=list)
    # the example course: "closed", "long_term", "reported", "in_progress", "relapse_checked",
    # "failed_then_closed", "extended_then_closed"
    course: str = "closed"


CLEAN_UP = "大扫除"
TRAINING = "培训"
FIRE_DRILL = "消防演练"
FIRE_DRILL_RULE = "要求辖区物业企业每半年至少开展一次消防演练"
REFUND = "清退资金"

FINDINGS = [
    Plan(
        (1,),
        1,
        "扎实开展政治理论学习",
        "“第一议题”学习不够规范、深入，学习记录不完整。",
        [
            "规范、深入学习“第一议题”，制定“第一议题”规范性指引，明确每次“第一议题”内容，构建“支部班子成员领学解读、"
            "党员参学践读并讨论发言”的学习机制，并由专人记录好每一个环节人员的发言体会。",
            "整理深圳智慧党建发布的第一议题、“三会一课”和主题党日内容指引，并把第一议题学习资料做成电子档上传到党支部"
            "书记群，供党支部书记学习参考，推动“第一议题”制度落实到位。",
        ],
        "党建办",
        course="relapse_checked",
    ),
    Plan(
        (1, 2),
        1,
        "加强安全隐患排查工作",
        "辖区消防安全隐患排查不够深入，居民消防安全意识有待提高。",
        [
            "深化宣传引导，构建全民消防意识网络。线下结合消防宣传月开展“五个一”活动，强化辖区居民消防安全意识；针对"
            "老年人、儿童等群体，发放简易图文手册，并在各小区开展科普讲解。线上通过物业群、微信业主群等渠道，定期推送"
            "家庭防火、电动自行车安全等案例警示。",
            "定期组织物业召开安全生产工作会议，强调加强消防安全工作重要性、必要性，督促物业加强自查自纠。",
            "系统化培训演练，提升应急实战能力。分层次轮训从业人员。针对物业保安、保洁等人员，开展灭火器使用、消火栓连接、"
            "疏散引导等实操实训。联合消防部门、物业组织综合演练，模拟电动车起火、高层建筑疏散等场景，强化“防消联勤”机制，"
            "并要求辖区物业企业每半年至少开展一次消防演练。",
        ],
        "安全办",
        deadline=DeadlineKind.LONG_TERM,
        course="long_term",
    ),
    Plan(
        (1, 2),
        2,
        "强化安全生产监管",
        "对小散工程和物业企业的安全生产监管不到位。",
        [
            "组织安全专干加强小散工程的日常巡查，发现问题及时整改，同时要求物业加强日常巡查、监督，坚决落实主体监管责任。",
            "定期组织辖区内物业召开安全生产工作会议，督促物业企业加强安全生产排查，发现安全生产问题要及时制止，并上报社区，"
            "由社区联合职能部门对违反安全生产流程的行为实施警示、处罚。",
        ],
        "安全办",
    ),
    Plan(
        (1,),
        3,
        "人居环境品质有效提升",
        "辖区市容环境卫生存在死角，常态化整治不够。",
        [
            "组织工作人员、辖区内物业、各小区党支部、志愿者队伍等开展常态化卫生巡查及各类大扫除活动。"
            "截止 2025 年 11 月 12 日，累计开展 {count:大扫除:to=2025-11-12} 次，市容环境整治工作成效明显提升。",
            "自区委巡察组进驻以来，松园社区党委组织城管专干、网格员、物业工作人员集中学习市容环境测评业务培训要求 "
            "{count:培训:from=2025-03-26} 次，有效提升业务人员专业能力。",
        ],
        "城建办",
        deadline=DeadlineKind.LONG_TERM,
        course="long_term",
    ),
    Plan(
        (2,),
        1,
        "强化公章使用管理",
        "公章使用审批、登记不规范，保管责任不明确。",
        [
            "严格落实《桂园街道公章使用管理制度》。从公章使用呈批程序、用章登记、用章材料把关和保管，以及公章的刻印、"
            "更换、保管等方面予以规范管理。",
            "加强公章保管。指定社区党委班子成员负责公章管理工作。",
        ],
        "党群服务中心",
        deadline=DeadlineKind.IMMEDIATE,
    ),
    Plan(
        (2,),
        2,
        "加强社区公共文化服务",
        "社区图书馆系统操作不熟练，借阅率偏低。",
        [
            "组织居委文员、社工等工作人员，开展图书馆系统专项培训，重点覆盖书籍录入、借阅登记、归还操作等模块；同时将"
            "系统操作流程录制为视频，方便工作人员随时回看复习，推动操作规范统一化、标准化，保障社区图书馆运行顺畅。",
            "加强图书馆服务宣传。结合社区党群服务中心开展的系列活动，告知居民社区图书馆可以借阅书籍，同时在微信群内转发"
            "社区借阅书籍的通知，提高社区图书馆借阅率。",
        ],
        "党群服务中心",
    ),
    Plan(
        (2,),
        3,
        "加强公益性岗位补贴发放审核",
        "公益性岗位补贴发放审核把关不严。",
        [
            "加强工作核查。制定公益服务岗位操作指引，加强核查工作力度，严把人员数据关和资金发放关，保证资金足额准确发放到位。",
            "加强业务培训。组织业务人员现场开展业务培训，通过文件学习、案例分析等多种方式，扎实推动公益服务工作规范化、"
            "标准化建设。",
        ],
        "民政办",
    ),
    Plan(
        (2, 4),
        1,
        "加强经费和人员的全流程监管，严格把关经费支出",
        "民生微实事项目经费支出审核把关不严。",
        [
            "严格落实社区民生微实事民意征集，根据上级统一出具的意见报告，加强对民微项目遴选、项目可行性、经费预算等方面的"
            "审核，确保项目审核层层把关。",
            "加强对工作人员的业务培训，严格审查项目开展的情况及参与人员是否符合相关规定。",
        ],
        "民生微实事办",
    ),
    Plan(
        (2, 4),
        2,
        "严格把关服务对象",
        "民生微实事项目服务对象资格审核不严。",
        ["严格审核民生微实事项目参与人员资格及物资签领资格，确保项目物资发放合规性。"],
        "民生微实事办",
        course="reported",
    ),
    Plan(
        (2,),
        5,
        "严格审核精神障碍患者协助监护补贴发放",
        "协助监护人遴选、监管不到位，补贴发放审核不严。",
        [
            "严格对标对表辖区在册精神障碍患者名册，做好协助监护人遴选、监管和补贴发放工作，对不能落实监管责任的监护人及时"
            "进行重新遴选并更新协助监护人名单。"
        ],
        "民政办",
        course="failed_then_closed",
    ),
    Plan(
        (2,),
        6,
        "规范工程项目资金管理",
        "（示例数据）某工程项目存在多付资金问题，相关线索已移交处理。",
        ["督促施工单位清退多付资金，完善工程项目资金支付审核流程。"],
        "财务室",
        disclosure=Disclosure.INTERNAL,
        withholding_reason="涉及在办案件，不宜公开",
        amounts=[("问题资金", "66.57", "万元")],
        course="in_progress",
    ),
    Plan(
        (3,),
        1,
        "规范开展党支部组织生活",
        "党支部组织生活不够规范，批评和自我批评记录不完整。",
        [
            "加强培训。社区党委通过对各党支部书记、支部委员开展组织生活会和民主评议党员相关工作流程的培训，严格落实组织生活，"
            "并要求各党支部对组织生活会上的批评和自我批评内容进行完整记录。",
            "建立基础党务常态化督导检查机制。安排社区党委副书记及党建组织员加强对下辖党支部“三会一课”记录本的检查与指导。",
        ],
        "党建办",
    ),
    Plan(
        (3, 2),
        1,
        "规范党支部会议记录工作",
        "党支部会议记录不完整、不规范。",
        [
            "要求党支部所有会议或活动的内容记录，由党支部书记、支部委员进行记录，建立基础党务常态化督导检查机制，确保会议"
            "记录内容完整、规范化。",
            "规范党支部换届工作流程，加强业务培训。由社区党委组织下辖各党支部书记、支部委员开展专题培训，让各党支部书记、"
            "支部委员熟悉党支部换届流程，同时加强社区党务工作者的日常学习，通过“线上+线下”相结合的学习方式，提高业务能力，"
            "指导下辖党支部开展支部工作，以确保严格落实党支部换届流程规范化。",
        ],
        "党建办",
    ),
    Plan(
        (3, 2),
        2,
        "确保“三会一课”参会人数达标",
        "部分党支部“三会一课”参会人数不达标，存在代签现象。",
        [
            "规定党支部所有会议或活动必须在正式开始前清点与会人员，确保“三会一课”参会人数达标，并由专人监督，严格实行"
            "“一人一签、本人亲签、严禁代签”。会议或活动的记录必须真实、完整、及时。会后，由党支部委员、社区党建组织员对"
            "会议记录进行复核，发现任何疑点或错误，立即纠正。"
        ],
        "党建办",
        course="extended_then_closed",
    ),
]


def clean_up_dates() -> list[date]:
    """Example dates of the clean-ups: 22 from the stationing to 2025-11-12, then 6 more."""
    first = date(2025, 4, 2)
    up_to_notice_figure = [first + timedelta(days=10 * i) for i in range(22)]
    assert up_to_notice_figure[-1] <= date(2025, 11, 12)
    later = [
        date(2025, 11, 20),
        date(2025, 12, 10),
        date(2025, 12, 30),
        date(2026, 1, 20),
        date(2026, 2, 10),
        date(2026, 3, 3),
    ]
    return up_to_notice_figure + later


TRAINING_DATES = [date(2025, 4, 15), date(2025, 5, 20), date(2025, 7, 8), date(2025, 9, 16), date(2025, 10, 28)]
FIRE_DRILL_DATES = [date(2025, 6, 18), date(2025, 12, 16)]

INSPECTOR = Actor("区委巡察办（示例）", Role.INSPECTOR)


@dataclass
class Loaded:
    """Ids of what the scenario wrote, and the log position after it."""

    unit_id: UUID
    round_id: UUID
    finding_ids: dict[str, UUID]
    position: int


def load(app: RectifyApplication, operator: Actor) -> Loaded:
    """Writes the whole reference scenario through the application's commands."""
    unit_id = app.register_unit(operator, **UNIT).entity_id
    unit = Actor("松园社区党委（示例）", Role.UNIT, unit_id)
    round_id = app.open_round(INSPECTOR, unit_ids=[unit_id], **ROUND).entity_id
    app.deliver_feedback(INSPECTOR, round_id=round_id, occurred_on=FEEDBACK_ON, rectification_until=RECTIFICATION_UNTIL)
    for path, title in CATEGORIES:
        app.define_category(INSPECTOR, round_id=round_id, path=path, title=title)
    app.draft_narrative(
        unit,
        round_id=round_id,
        unit_id=unit_id,
        section=NarrativeSection.RESPONSIBILITY,
        intro=RESPONSIBILITY_INTRO,
        items=RESPONSIBILITY_ITEMS,
    )
    app.draft_narrative(
        unit,
        round_id=round_id,
        unit_id=unit_id,
        section=NarrativeSection.NEXT_STEPS,
        intro=NEXT_STEPS_INTRO,
        items=NEXT_STEPS_ITEMS,
    )

    finding_ids: dict[str, UUID] = {}
    for plan in FINDINGS:
        finding_id = app.raise_finding(
            INSPECTOR,
            round_id=round_id,
            unit_id=unit_id,
            category=plan.category,
            ordinal=plan.ordinal,
            heading=plan.heading,
            problem=plan.problem,
            amounts=plan.amounts,
            disclosure=plan.disclosure,
            withholding_reason=plan.withholding_reason,
        ).entity_id
        finding_ids[plan.heading] = finding_id
        _rectify(app, unit, finding_id, plan)
    # 长效机制: the standing rule of 一-2-(1)'s third measure, checked half-year by half-year from the stationing.
    app.adopt_rule(
        unit,
        title=FIRE_DRILL_RULE,
        activity_kind=FIRE_DRILL,
        minimum=1,
        period=RulePeriod.HALF_YEAR,
        starts_on=ROUND["stationed_from"],
        round_id=round_id,
        unit_id=unit_id,
    )
    return Loaded(unit_id, round_id, finding_ids, app.head())


def _rectify(app: RectifyApplication, unit: Actor, finding_id: UUID, plan: Plan) -> None:
    """The example course of one finding, from assignment to close-out (or as far as it got)."""
    due = {DeadlineKind.DATE: RECTIFICATION_UNTIL, DeadlineKind.IMMEDIATE: date(2025, 8, 31)}.get(plan.deadline)
    app.assign_responsibility(
        unit,
        finding_id=finding_id,
        department=plan.department,
        leader="社区党委书记",
        person=f"{plan.department}负责人",
        deadline_kind=plan.deadline,
        due_on=due,
    )
    measure_ids = [app.plan_measure(unit, finding_id=finding_id, text=text).entity_id for text in plan.measures]

    if plan.heading == "人居环境品质有效提升":
        for day in clean_up_dates():
            app.record_activity(
                unit,
                finding_id=finding_id,
                kind=CLEAN_UP,
                occurred_on=day,
                count=1,
                description="常态化卫生巡查及大扫除（示例数据，日期为推定）",
                measure_id=measure_ids[0],
            )
        for day in TRAINING_DATES:
            app.record_activity(
                unit,
                finding_id=finding_id,
                kind=TRAINING,
                occurred_on=day,
                count=1,
                description="市容环境测评业务培训（示例数据，日期为推定）",
                measure_id=measure_ids[1],
            )
    if plan.heading == "加强安全隐患排查工作":
        for day in FIRE_DRILL_DATES:
            app.record_activity(
                unit,
                finding_id=finding_id,
                kind=FIRE_DRILL,
                occurred_on=day,
                count=1,
                description="物业企业消防演练（示例数据）",
                measure_id=measure_ids[2],
            )
    if plan.course == "in_progress":
        app.record_activity(
            unit,
            finding_id=finding_id,
            kind=REFUND,
            occurred_on=date(2025, 10, 15),
            amount="40.00",
            unit="万元",
            description="施工单位清退多付资金（示例数据）",
        )
        return

    for number, measure_id in enumerate(measure_ids):
        app.complete_measure(
            unit,
            finding_id=finding_id,
            measure_id=measure_id,
            occurred_on=date(2025, 9, 10) + timedelta(days=7 * number),
        )
    if plan.course == "long_term":
        app.mark_long_term(
            unit, finding_id=finding_id, occurred_on=date(2025, 11, 10), summary="基本完成，取得阶段性成果并持续整改"
        )
        return
    if plan.course == "extended_then_closed":
        app.extend_deadline(
            INSPECTOR, finding_id=finding_id, due_on=date(2025, 12, 31), reason="需待各党支部完成换届后复核（示例数据）"
        )
        reported_on = date(2025, 12, 20)
    else:
        reported_on = date(2025, 11, 5)
    app.report_rectification(unit, finding_id=finding_id, occurred_on=reported_on, summary="已按措施完成整改")
    if plan.course == "reported":
        return
    if plan.course == "failed_then_closed":
        app.record_verification(
            INSPECTOR,
            finding_id=finding_id,
            passed=False,
            verified_by="区委巡察办",
            occurred_on=date(2025, 11, 20),
            comment="协助监护人名单未及时更新（示例数据）",
        )
        app.report_rectification(
            unit, finding_id=finding_id, occurred_on=date(2025, 12, 15), summary="已更新协助监护人名单"
        )
        reported_on = date(2025, 12, 15)
    verified_on = reported_on + timedelta(days=20)
    app.record_verification(
        INSPECTOR,
        finding_id=finding_id,
        passed=True,
        verified_by="区委巡察办",
        occurred_on=verified_on,
        comment="整改到位",
    )
    app.close_finding(INSPECTOR, finding_id=finding_id, occurred_on=verified_on + timedelta(days=5), comment="对账销号")
    if plan.course == "relapse_checked":
        app.record_relapse_check(
            INSPECTOR,
            finding_id=finding_id,
            outcome=RelapseOutcome.HOLDING,
            checked_by="区委巡察办",
            occurred_on=date(2026, 2, 20),
            comment="未发现反弹",
        )
