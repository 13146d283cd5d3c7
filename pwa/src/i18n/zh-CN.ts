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
