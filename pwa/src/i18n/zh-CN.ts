// Every string the user sees comes from here. Typed: a missing or misspelt key is a compile
// error, and role and area-level labels must cover every value the server can send.

import type { AreaLevel, Role } from '../lib/types';

export interface Dictionary {
  appName: string;
  appShortName: string;
  roles: Record<Role, string>;
  areaLevels: Record<AreaLevel, string>;
  login: {
    title: string;
    subtitle: string;
    username: string;
    usernamePlaceholder: string;
    password: string;
    passwordPlaceholder: string;
    submit: string;
    submitting: string;
    networkHint: string;
    usernameRequired: string;
    passwordRequired: string;
  };
  home: {
    greeting: (name: string) => string;
    role: string;
    areas: string;
    noAreas: string;
    logout: string;
    loggingOut: string;
    sessionExpired: string;
  };
  status: {
    online: string;
    offline: string;
  };
  footer: {
    offline: string;
  };
  update: {
    available: string;
    offlineReady: string;
    dismiss: string;
  };
  validation: {
    expectText: string;
    expectNumber: string;
    expectCount: string;
    expectBool: string;
    expectDate: string;
    expectTime: string;
    expectCodes: string;
    expectId: string;
    expectList: string;
    textTooLong: string;
    numberRange: (min: number, max: number) => string;
    countNegative: string;
    countTooLarge: string;
    date: string;
    time: string;
    enumValue: string;
    codeDuplicate: (code: string) => string;
    codeUnknown: (code: string) => string;
    idLength: string;
    idChars: string;
    idBirthInvalid: string;
    idBirthFuture: string;
    idCheck: string;
    docLength: string;
    phone: string;
    uuid: string;
    photos: string;
    unknownField: string;
    required: string;
  };
  /** The field app (records, screens, sync). Its shape is fixed by `fieldApp` below. */
  app: typeof fieldApp;
  errors: {
    invalidCredentials: string;
    tooManyAttempts: (minutes: number) => string;
    tooManyAttemptsLater: string;
    network: string;
    invalidRequest: string;
    sessionExpired: string;
    forbidden: string;
    clientIdTaken: string;
    upgradeRequired: string;
    server: string;
    badResponse: string;
    unknown: (status: number) => string;
  };
}

const yesNo = { yes: '是', no: '否', unknown: '未填' };

const fieldApp = {
  yesNo,
  nav: {
    back: '返回',
    home: '首页',
    households: '住户',
    rentals: '出租房',
    flags: '提示',
    publicity: '宣传',
    sync: '同步',
  },
  home: {
    myGrids: '我的网格',
    gridHint: '点网格进入：住户走访、出租房排查、提示和宣传。',
    noGrids: '暂未分配网格，请联系镇综治办。',
    pending: (n: number) => (n === 0 ? '全部已同步' : `${n} 条修改待同步`),
    rejectedToFix: (n: number) => `${n} 条被退回，需要修改`,
    lastSync: (when: string) => `上次同步：${when}`,
    neverSynced: '尚未同步',
    syncNow: '立即同步',
    syncing: '正在同步…',
    logoutRefused: (n: number) => `还有 ${n} 条修改没有同步，不能退出。请连接网络并点“立即同步”，全部同步后再退出。`,
    logoutRefusedPhotos: (n: number) => `还有 ${n} 张照片没有上传，不能退出。请连接网络稍等片刻，上传完成后再退出。`,
    switchRefused: (n: number) => `这部手机上还有上一位用户 ${n} 条修改没有同步，不能切换用户。请上一位用户登录并同步后再切换。`,
    updateRequired: '应用版本过旧，不能同步。请连接网络后点“有新版本，点击更新”。',
    loginRequired: '登录已过期，修改都保存在手机上。请重新登录后同步。',
  },
  grid: {
    title: (name: string) => `网格：${name}`,
    next: '选择要做的事：',
    households: (n: number) => `住户走访（${n} 户）`,
    rentals: (n: number) => `出租房排查（${n} 处）`,
    flags: (n: number) => `待处理提示（${n} 条）`,
    publicity: '宣传登记',
  },
  households: {
    title: '住户',
    search: '搜索地址或姓名',
    filters: { all: '全部', unregistered: '未注册', partial: '部分注册', not_visited: '未走访' },
    count: (n: number) => `共 ${n} 户`,
    none: '没有符合条件的住户。',
    add: '＋ 新增住户',
    next: '点一户查看成员、登记金钟罩和记录走访。',
    members: (n: number) => `${n} 人`,
    visited: '已走访',
    notVisited: '未走访',
  },
  regStatus: {
    unregistered: '未注册',
    partial: '部分注册',
    registered: '已注册',
    exempt: '无需注册',
  },
  household: {
    title: '住户详情',
    edit: '修改住户信息',
    members: '家庭成员',
    addMember: '＋ 添加成员',
    noMembers: '还没有成员。请先添加成员，再登记金钟罩注册情况。',
    visits: '走访记录',
    addVisit: '＋ 记录本次走访',
    noVisits: '还没有走访记录。上门后请点“记录本次走访”。',
    next: {
      unregistered: '下一步：帮有智能手机的成员注册金钟罩，并在成员信息中登记。',
      partial: '下一步：还有智能手机用户没有注册，请继续帮助注册或登记为亲属代管。',
      registered: '已全部注册。记得记录走访并邀请加入网格微信群。',
      exempt: '家中无人使用智能手机，已由亲属账号覆盖。',
    },
    registered: '金钟罩已注册',
    notRegistered: '金钟罩未注册',
    covered: '亲属代管',
    history: '修改记录',
    photos: '照片',
  },
  rentals: {
    title: '出租房',
    add: '＋ 新增出租房',
    none: '还没有出租房。扫楼时请点“新增出租房”。',
    next: '点一处出租房登记租客、做排查。',
    tenants: (n: number) => `租客 ${n} 人`,
    search: '搜索地址或房东',
  },
  rental: {
    title: '出租房详情',
    edit: '修改出租房信息',
    tenants: '租客',
    addTenant: '＋ 添加租客',
    noTenants: '还没有登记租客。',
    moveOut: '登记搬离',
    movedOut: (d: string) => `已于 ${d} 搬离`,
    inspections: '排查记录',
    inspect: '＋ 开始排查',
    visit: '＋ 记录上门（含无人开门）',
    visits: (n: number) => `已上门 ${n} 次`,
    noInspections: '还没有排查。请点“开始排查”，逐项核对。',
    risk: '涉诈风险',
    next: '下一步：登记全部租客，然后逐项排查。',
    noRisk: '暂无风险提示',
    roughPending: (n: number) => `本机估算约 ${n} 分${n >= 40 ? '（红色）' : n >= 20 ? '（黄色）' : ''}；同步后由服务器按规则评分，民警核实。`,
  },
  inspection: {
    title: '涉诈窝点排查',
    intro: '逐项核对，发现就勾选。分数由服务器按规则计算，最终由民警核实。',
    occupants: '实际看到的居住人数',
    notes: '情况说明',
    score: (n: number) => `本次勾选合计约 ${n} 分`,
    redHint: '≥40 分为红色：民警 24 小时内核查',
    save: '保存排查结果',
    groups: {
      A: '设备物品',
      B: '人员情况',
      C: '行为表现',
      D: '租赁情况',
      E: '用电情况',
      F: '群众举报',
      X: '系统比对',
    },
    derived: '（服务器自动比对，一般不用勾选）',
  },
  indicators: {
    A1: { name: '发现猫池 / GOIP / 多卡宝', hint: '像路由器，但插着很多手机卡的盒子' },
    A2: { name: '多部手机用音频线连在一起', hint: '俗称“手机口”，手机之间用耳机线、音频线相连' },
    A3: { name: '发现话术本或受害人号码清单', hint: '写着诈骗台词的本子、打印的电话号码名单' },
    A4: { name: '大量手机卡或手机卡包装', hint: '成堆的电话卡、卡套、卡板' },
    A5: { name: '大量银行卡、U 盾或他人身份证', hint: '不属于住户本人的银行卡、U 盾、身份证' },
    A6: { name: '电脑、路由器等设备与人数不符', hint: '设备明显多于几个人日常所需' },
    A7: { name: '设备与人数不符，且没有生活迹象', hint: '屋里只有设备，没有做饭、睡觉等生活痕迹（比上一项更严重）' },
    B1: { name: '实际居住人数多于登记人数', hint: '看到的人比登记的租客多' },
    B2: { name: '多名青年聚居，无明确工作或收入', hint: '几个年轻人住在一起，说不清做什么工作' },
    C1: { name: '租客拒绝登记身份证或出示假证件', hint: '不肯拿出身份证，或证件可疑' },
    C2: { name: '两次以上上门无人开门', hint: '明明有人却不开门，或多次敲门无应答' },
    C3: { name: '长期拉窗帘、换锁或自装门口摄像头', hint: '刻意防止外人看到屋内' },
    C4: { name: '昼伏夜出、频繁打电话', hint: '白天不出门，夜里活动，电话不断' },
    C5: { name: '频繁收到手机卡或银行卡快递', hint: '邻居或快递员反映常有卡类快递' },
    D1: { name: '短租、日租或租金明显高于市场价', hint: '按天或按周租，或愿意多付很多租金' },
    D2: { name: '现金交租且无书面合同', hint: '只收现金，没有签租房合同' },
    D3: { name: '房东不在本地且无管理人', hint: '房子没人管，房东不知道谁在住' },
    E1: { name: '用电量异常', hint: '电费明显高于同类住户' },
    E2: { name: '用电量严重异常', hint: '电费高出很多倍（比上一项更严重）' },
    F1: { name: '邻居或房东举报', hint: '有人反映可疑情况；举报人信息只有民警可见' },
    X1: { name: '同一租客同时登记在另一处出租房', hint: '同一身份证在别处也登记为在住' },
  } as Record<string, { name: string; hint: string }>,
  flags: {
    title: '待处理提示',
    none: '没有待处理的提示。',
    next: '按颜色先处理红色，再处理黄色。',
    level: { red: '红色', yellow: '黄色', green: '绿色', info: '提醒' } as Record<string, string>,
    kind: {
      unregistered_household: '住户未注册金钟罩',
      not_visited: '住户未走访',
      fraud_risk: '出租房涉诈风险',
      duplicate_tenant: '租客重复登记',
      outside_grid: '位置不在本网格',
    } as Record<string, string>,
    todo: {
      unregistered_household: '上门帮助有智能手机的成员注册金钟罩，并在成员信息中登记。',
      not_visited: '尽快上门走访，并点“记录本次走访”。',
      fraud_risk: '不要打草惊蛇。红色：民警 24 小时内核查；黄色：7 天内复查，配合民警排查。',
      duplicate_tenant: '核实该租客现在住哪里，在不住的那处登记搬离。',
      outside_grid: '核对地址，如不属本网格请告知镇综治办调整。',
    } as Record<string, string>,
    score: (n: number) => `${n} 分`,
    open: '查看',
  },
  publicity: {
    title: '宣传登记',
    add: '＋ 登记一项宣传',
    none: '还没有宣传登记。挂横幅、贴标语、宣传车、广播后请登记并拍照。',
    target: '目标：横幅或固定标语≥2 处，每个小区红纸标语≥5 条，宣传车 1 次，村村响广播。',
  },
  visit: {
    title: '记录走访',
  },
  form: {
    save: '保存',
    saving: '正在保存…',
    cancel: '取消',
    saved: '已保存在手机上，有网络时自动同步。',
    fix: '请先修改标红的内容。',
    newTitle: { household: '新增住户', member: '添加成员', rental: '新增出租房', tenant: '添加租客', visit: '记录走访', publicity: '登记宣传', inspection: '排查' } as Record<string, string>,
    editTitle: { household: '修改住户', member: '修改成员', rental: '修改出租房', tenant: '修改租客', visit: '修改走访', publicity: '修改宣传', inspection: '修改排查' } as Record<string, string>,
    choose: '请选择',
    next: '填好后点最下面的“保存”（带 * 的必填）。保存在手机上，没有网络也不会丢，有网络时自动同步。',
    maskedKept: '已登记（为保护隐私只显示部分）。需要更正时再重新输入。',
    delete: '删除',
    confirmDelete: '确定删除吗？',
    unsavedLeave: '有未保存的内容，确定离开吗？',
  },
  keypad: {
    clear: '清空',
    backspace: '退格',
    done: '完成',
  },
  photos: {
    add: '拍照 / 选照片',
    adding: '正在压缩照片…',
    waiting: '待上传',
    uploaded: '已上传',
    failed: '照片处理失败，请重试',
    remote: '照片',
    count: (n: number) => `${n} 张照片`,
  },
  sync: {
    title: '同步状态',
    pending: '待同步修改',
    lastSync: '上次同步',
    state: {
      idle: '空闲',
      syncing: '正在同步…',
      offline: '没有网络，稍后自动重试',
      error: '同步出错，稍后自动重试',
      login_required: '需要重新登录',
      update_required: '需要更新应用',
    } as Record<string, string>,
    retryAt: (when: string) => `将于 ${when} 自动重试`,
    rejected: '被退回的修改',
    rejectedNone: '没有被退回的修改。',
    rejectedHint: '服务器没有接受下面的修改（内容已保存在服务器供核查）。请打开记录改正后再保存，然后点“知道了”。',
    openRecord: '打开记录',
    dismiss: '知道了',
    photosPending: (n: number) => `${n} 张照片待上传`,
    photosUnsupported: '服务器暂不接收照片，照片保存在手机上，以后自动上传。',
    storage: '离线数据保护',
    persisted: '已开启：浏览器不会自动清除本机数据',
    notPersisted: '未开启：手机空间不足时浏览器可能清除数据',
    persist: '开启保护',
    storageUnknown: '此浏览器不支持',
    history: '修改记录',
    historyHint: '每个字段的每次修改（包括没有生效的），需要联网查看。',
    historyEmpty: '没有修改记录。',
    historyOffline: '需要网络才能查看修改记录。',
    won: '生效',
    lost: '未生效（被更新的修改覆盖）',
    superseded: '已被后来的修改替换',
    entity: { household: '住户', member: '成员', rental: '出租房', tenant: '租客', visit: '走访', inspection: '排查', publicity: '宣传', flag: '提示' } as Record<string, string>,
  },
  when: {
    justNow: '刚刚',
    minutes: (n: number) => `${n} 分钟前`,
    hours: (n: number) => `${n} 小时前`,
  },
  fields: {
    household: {
      address: '地址（组-门牌号）',
      head_name: '户主姓名',
      group_name: '村民小组',
      kind: '住户类型',
      leaflet_delivered: '已发放宣传单',
      notes: '备注',
      photos: '照片',
    },
    member: {
      name: '姓名',
      relation: '与户主关系',
      id_number: '身份证号',
      phone: '手机号',
      living_at_home: '在家居住（不在外务工）',
      has_smartphone: '有智能手机',
      jzz_registered: '已注册金钟罩',
      jzz_registered_on: '注册日期',
      jzz_verified_by: '如何核实注册',
      covered_by: '由哪位亲属代管（亲属账号覆盖）',
      wechat_group_joined: '已加入网格微信群',
      national_app_installed: '已安装国家反诈中心 App',
      vulnerable: '重点关注（独居老人等）',
      notes: '备注',
      photos: '照片',
    },
    rental: {
      address: '地址',
      landlord_name: '房东姓名',
      landlord_phone: '房东手机号',
      landlord_on_site: '房东住在本处',
      manager_name: '管理人姓名',
      manager_phone: '管理人手机号',
      property_type: '房屋类型',
      rooms: '出租房间数',
      rent_mode: '出租方式',
      payment: '付租方式',
      written_contract: '有书面合同',
      filed_with_police: '已向派出所备案',
      occupants_observed: '实际看到的居住人数',
      status: '状态',
      notes: '备注',
      photos: '照片',
    },
    tenant: {
      name: '姓名',
      id_type: '证件类型',
      id_number: '证件号码',
      phone: '手机号',
      hukou_place: '户籍地',
      move_in: '入住日期',
      move_out: '搬离日期',
      occupation: '职业',
      workplace: '工作单位',
      reason: '来此居住原因',
      primary_lessee: '是承租人（签约人）',
      residence_permit: '已办居住证',
      id_checked_by: '如何核验证件',
      notes: '备注',
      photos: '照片',
    },
    visit: {
      kind: '走访类型',
      outcome: '结果',
      visited_at: '走访时间',
      visitors: '走访人',
      leaflets: '发放宣传单（份）',
      registrations_helped: '帮助注册金钟罩（人）',
      notes: '备注',
      photos: '照片',
    },
    publicity: {
      kind: '宣传类型',
      count: '数量',
      date: '日期',
      compound: '地点 / 小区',
      notes: '备注',
      photos: '照片',
    },
  } as Record<string, Record<string, string>>,
  enums: {
    household_kind: { registered: '户籍户', resident: '常住户', rental: '出租户', vacant: '空置' },
    jzz_verified_by: { self_report: '本人自述', seen_on_phone: '在手机上看到', police_list: '派出所名单' },
    id_type: {
      resident_id: '居民身份证',
      passport: '护照',
      hk_macau_permit: '港澳通行证',
      taiwan_permit: '台湾通行证',
      foreign_permit: '外国人居留证',
      other: '其他',
    },
    id_checked_by: { card_reader: '读卡器', seen_card: '看过证件', verbal: '口述', none: '未核验' },
    rent_mode: { long: '长租', short: '短租', daily: '日租' },
    payment: { cash: '现金', transfer: '转账' },
    rental_status: { let: '已出租', vacant: '空置', closed: '关闭' },
    visit_kind: { door_to_door: '入户走访', follow_up: '回访', school_leaflet: '学校送单', sweep: '扫楼' },
    outcome: { met: '见到人', nobody_home: '无人在家', refused: '拒绝' },
    publicity_kind: {
      banner: '横幅',
      slogan: '固定标语',
      red_paper_slogan: '红纸标语',
      vehicle_run: '宣传车巡回',
      broadcast: '村村响广播',
      display_screen: '电子屏',
      meeting: '宣传会',
      training: '培训',
      school_leaflet: '学校送单（按班级）',
    },
  } as Record<string, Record<string, string>>,
  required: '必填',
};

export const zhCN: Dictionary = {
  appName: '防诈工作台',
  appShortName: '防诈',
  roles: {
    admin: '镇综治办管理员',
    cadre: '村(居)干部',
    grid_worker: '网格员',
    police: '辖区民警',
    viewer: '领导小组(只读)',
  },
  areaLevels: {
    township: '镇/街道',
    village: '村(居)',
    grid: '网格',
  },
  login: {
    title: '防诈工作台',
    subtitle: '防范电信网络诈骗 · 镇村网格工作平台',
    username: '用户名',
    usernamePlaceholder: '请输入用户名',
    password: '密码',
    passwordPlaceholder: '请输入密码',
    submit: '登录',
    submitting: '正在登录…',
    networkHint: '首次登录需要连接网络；登录后，没有网络也可以继续使用。',
    usernameRequired: '请输入用户名',
    passwordRequired: '请输入密码',
  },
  home: {
    greeting: (name) => `您好，${name}`,
    role: '身份',
    areas: '负责区域',
    noAreas: '暂未分配区域，请联系镇综治办。',
    logout: '退出登录',
    loggingOut: '正在退出…',
    sessionExpired: '登录已过期，请重新登录',
  },
  status: {
    online: '在线',
    offline: '离线',
  },
  footer: {
    offline: '本应用支持离线使用：没有网络时也能打开和查看。',
  },
  update: {
    available: '有新版本，点击更新',
    offlineReady: '应用已可离线使用',
    dismiss: '知道了',
  },
  validation: {
    expectText: '应为文字',
    expectNumber: '应为数字',
    expectCount: '应为整数',
    expectBool: '应为“是”或“否”',
    expectDate: '应为日期（年-月-日）',
    expectTime: '应为时间',
    expectCodes: '应为指标代码列表',
    expectId: '应为记录编号',
    expectList: '应为对象列表',
    textTooLong: '文字过长（最多 2000 字）',
    numberRange: (min, max) => `数值应在 ${min} 到 ${max} 之间`,
    countNegative: '应为不小于 0 的整数',
    countTooLarge: '数量过大',
    date: '日期格式应为 年-月-日（如 2021-05-18），且日期存在',
    time: '时间格式应为带时区的时间，如 2021-05-18T09:30:00+08:00',
    enumValue: '请从列表中选择',
    codeDuplicate: (code) => `指标重复：${code}`,
    codeUnknown: (code) => `未知指标：${code}`,
    idLength: '身份证号必须是 18 位',
    idChars: '身份证号前 17 位必须是数字，最后一位是数字或大写 X',
    idBirthInvalid: '身份证号中的出生日期不存在',
    idBirthFuture: '身份证号中的出生日期晚于今天',
    idCheck: '身份证号校验位不正确，请核对',
    docLength: '证件号码长度不正确',
    phone: '手机号必须是 11 位数字，以 13–19 开头',
    uuid: '应为记录编号（UUID）',
    photos: '照片数据不正确（最多 50 张）',
    unknownField: '未知字段',
    required: '必填',
  },
  app: fieldApp,
  errors: {
    invalidCredentials: '用户名或密码错误',
    tooManyAttempts: (minutes) => `尝试次数过多，请 ${minutes} 分钟后再试`,
    tooManyAttemptsLater: '尝试次数过多，请稍后再试',
    network: '无法连接服务器，请检查网络后重试',
    invalidRequest: '请求无效，请检查填写内容后重试',
    sessionExpired: '登录已过期，请重新登录',
    forbidden: '没有权限进行此操作',
    clientIdTaken: '此设备已绑定其他用户，请联系镇综治办',
    upgradeRequired: '应用版本过旧，请更新后再试',
    server: '服务器出现问题，请稍后再试',
    badResponse: '服务器返回了无法识别的内容，请稍后再试',
    unknown: (status) => `请求失败（${status}），请稍后再试`,
  },
};

/** The dictionary in use. Only zh-CN exists. */
export const t: Dictionary = zhCN;
